"""The embedded store (one SQLite file, several processes on one machine)."""

from workhorse.store.sqlite.schema import NotAWorkhorseDatabase
from workhorse.store.sqlite.store import SqliteStore

__all__ = ["NotAWorkhorseDatabase", "SqliteStore"]
