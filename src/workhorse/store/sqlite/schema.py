"""The embedded store's tables, and opening a file safely.

Schema (every table is keyed by queue name; one file holds any number of queues)::

    workhorse_meta  key/value: "schema" = "workhorse", "version" = SCHEMA_VERSION.  Its
                    presence is what makes a file a Workhorse database.
    queues          one row per queue touched: known (received a job), paused,
                    fifo_first, last_id (generated ids), seq (ready-order counter),
                    nevents (events in its stream, for trimming), limits (concurrency,
                    rate_max / rate_per ms, group_max / group_per / group_concurrency;
                    NULL = none)
    children        the children of a flow parent (queue, parent id): ref "queue:id",
                    state pending / c (completed, value = result JSON) / f (failed
                    for good, value = reason)
    schedules       repeatable jobs by stable key: spec JSON (workhorse.schedule), next
                    tick (ms)
    starts          start times of jobs inside the current rate window, per (queue,
                    grp) with grp '' for the queue-wide limit (a sliding-window log)
    counts          jobs per (queue, state), kept exact by every transaction that
                    moves jobs (Tx.move), so counts and count-based retention are O(1)
    jobs            one row per job, with the field names of Job.from_fields (``dead``:
                    when it joined the dead-letter set; ``grp``: its group), plus
                    ``rank``: the order inside its state -- take order for waiting
                    (seq) and prioritized (priority * 2^40 + seq), due time for
                    delayed, lock expiry for active, finish time for completed and
                    failed.  Index (queue, state, rank) serves take, promotion of due
                    jobs, the stalled check, retention, clean and list_jobs.
    logs            log lines of a job (the last LOG_LINES_KEPT)
    history         failed attempts of a job (the last 20)
    events          per-queue event stream; ``seq`` (AUTOINCREMENT, never reused)
                    is the position; trimmed to about events_maxlen per queue (the
                    oldest go once it is TRIM_SLACK over, like Redis ``MAXLEN ~``)
    listeners       sleeping workers and event readers of this file: the address of
                    the datagram socket a writer pokes after a commit (see wake.py)
    workers         the worker registry: one row per live worker (WorkerInfo of
                    store/base.py; ``queues`` a JSON list), ``expires_at`` = when its
                    heartbeat lapses (ms); expired rows are pruned by readers
    shared_values   small store-wide values by key (Store.put_value), with when they
                    expire (ms); expired rows are dropped by the next put

``jobs.ready`` is when a job last became ready (ms): the start of the wait that its
``active`` event reports.  ``jobs.hold_delay`` is a flow parent's delay (ms), applied
once its children are done.

Migrations: ``MIGRATIONS[n]`` takes a database from version n to n + 1.  A file is
migrated on open, inside one write transaction, so concurrent openers agree.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from workhorse.errors import StoreUnavailable

SCHEMA_VERSION = 5
META_TABLE = "workhorse_meta"

_V1 = """
CREATE TABLE workhorse_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    known INTEGER NOT NULL DEFAULT 0,
    paused INTEGER NOT NULL DEFAULT 0,
    fifo_first INTEGER NOT NULL DEFAULT 0,
    last_id INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    nevents INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE counts (
    queue TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, state)
) WITHOUT ROWID;
CREATE TABLE jobs (
    pk INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    rank INTEGER NOT NULL,
    name TEXT NOT NULL,
    data TEXT,
    opts TEXT,
    ts INTEGER NOT NULL,
    prio INTEGER NOT NULL DEFAULT 0,
    made INTEGER NOT NULL DEFAULT 0,
    stalls INTEGER NOT NULL DEFAULT 0,
    started INTEGER,
    finished INTEGER,
    due INTEGER,
    progress TEXT,
    result TEXT,
    error TEXT,
    stack TEXT,
    owner TEXT,
    tags TEXT,
    meta TEXT,
    token TEXT,
    cancel INTEGER,
    kc TEXT,
    kf TEXT,
    nlogs INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX jobs_by_id ON jobs (queue, id);
CREATE INDEX jobs_by_rank ON jobs (queue, state, rank);
CREATE TABLE logs (
    pk INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    job TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX logs_by_job ON logs (queue, job);
CREATE TABLE history (
    pk INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    job TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    error TEXT NOT NULL,
    stack TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX history_by_job ON history (queue, job);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    ev TEXT NOT NULL,
    job TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX events_by_queue ON events (queue, seq);
CREATE TABLE listeners (
    addr TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    pid INTEGER NOT NULL,
    since INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX listeners_by_queue ON listeners (queue);
"""

# Version 2: dead letters (``jobs.dead``: when the job joined the dead-letter set),
# job groups (``jobs.grp``), flows (``jobs.pq``/``pid``/``fpf``: the parent, and
# whether the job's failure fails it; ``children``), schedules, and queue limits (``queues``
# limit columns; ``starts``: the start times inside the current rate window, per
# queue and group, '' = whole queue).
_V2 = """
ALTER TABLE jobs ADD COLUMN dead INTEGER;
ALTER TABLE jobs ADD COLUMN grp TEXT;
ALTER TABLE jobs ADD COLUMN pq TEXT;
ALTER TABLE jobs ADD COLUMN pid TEXT;
ALTER TABLE jobs ADD COLUMN fpf INTEGER;
CREATE TABLE children (
    queue TEXT NOT NULL,
    parent TEXT NOT NULL,
    ref TEXT NOT NULL,
    state TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (queue, parent, ref)
) WITHOUT ROWID;
CREATE INDEX jobs_dead ON jobs (queue, dead) WHERE dead IS NOT NULL;
CREATE INDEX jobs_by_group ON jobs (queue, grp, state) WHERE grp IS NOT NULL;
ALTER TABLE queues ADD COLUMN concurrency INTEGER;
ALTER TABLE queues ADD COLUMN rate_max INTEGER;
ALTER TABLE queues ADD COLUMN rate_per INTEGER;
ALTER TABLE queues ADD COLUMN group_max INTEGER;
ALTER TABLE queues ADD COLUMN group_per INTEGER;
ALTER TABLE queues ADD COLUMN group_concurrency INTEGER;
CREATE TABLE starts (
    pk INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    grp TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX starts_by_group ON starts (queue, grp, at);
CREATE TABLE schedules (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    next_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX schedules_by_next ON schedules (next_at);
"""

# Version 3: the worker registry (``workers``) and when each job became ready
# (``jobs.ready``, for wait times and the oldest waiting job).
_V3 = """
ALTER TABLE jobs ADD COLUMN ready INTEGER;
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    queues TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    active INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
"""

_V4 = """
ALTER TABLE jobs ADD COLUMN hold_delay INTEGER;
"""

# Version 5: small store-wide values shared by the processes of a deployment.
_V5 = """
CREATE TABLE shared_values (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
"""

#: Scripts that take the schema from version ``n`` (the key) to ``n + 1``.
MIGRATIONS: dict[int, str] = {0: _V1, 1: _V2, 2: _V3, 3: _V4, 4: _V5}


class NotAWorkhorseDatabase(StoreUnavailable):
    """The file exists but is not a Workhorse database (or is from a newer version)."""


def _unavailable(path: Path, what: str, exc: BaseException | None = None) -> StoreUnavailable:
    detail = f" ({exc})" if exc is not None else ""
    return StoreUnavailable(f"SQLite store at {path}: {what}{detail}")


def prepare_directory(path: Path) -> None:
    """Create the file's directory if needed, with an error naming the path if not."""
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unavailable(
            path,
            f"cannot create its directory {parent}; create it, or choose a writable path",
            exc,
        ) from exc
    if not parent.is_dir():
        raise _unavailable(path, f"{parent} is not a directory; choose another path")
    if path.exists() and not path.is_file():
        raise _unavailable(path, "exists and is not a file; choose another path")


def open_connection(path: Path, busy_timeout: float, synchronous: str) -> sqlite3.Connection:
    """Open (creating or migrating if needed) the Workhorse database at ``path``.

    Refuses, with an error naming the path, a file that is not an SQLite database, an
    SQLite database of another application, or one from a newer Workhorse; never
    replaces such a file with a new database."""
    prepare_directory(path)
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise _unavailable(path, "cannot open the file; check its permissions", exc) from exc
    try:
        _check_and_migrate(conn, path, busy_timeout)
        _configure(conn, path, synchronous)
    except BaseException:
        conn.close()
        raise
    return conn


def _tables(conn: sqlite3.Connection, path: Path) -> set[str]:
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        raise NotAWorkhorseDatabase(
            f"SQLite store at {path}: the file exists but is not an SQLite database ({exc}); "
            "point the store at a new file or at a Workhorse database"
        ) from exc
    return {str(r[0]) for r in rows}


def _check_ours(tables: set[str], path: Path) -> None:
    if tables and META_TABLE not in tables and tables != {"sqlite_sequence"}:
        shown = ", ".join(sorted(tables)[:5])
        raise NotAWorkhorseDatabase(
            f"SQLite store at {path}: this SQLite database belongs to another application "
            f"(tables: {shown}; no {META_TABLE} table); point the store at a new file"
        )


def _version(conn: sqlite3.Connection, path: Path) -> int:
    rows = dict(conn.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    if rows.get("schema") != "workhorse":
        raise NotAWorkhorseDatabase(
            f"SQLite store at {path}: {META_TABLE} does not mark a Workhorse database"
        )
    version = int(rows.get("version", "0"))
    if version > SCHEMA_VERSION:
        raise NotAWorkhorseDatabase(
            f"SQLite store at {path}: written by a newer Workhorse (schema version {version}, "
            f"this one knows up to {SCHEMA_VERSION}); upgrade Workhorse"
        )
    return version


def _check_and_migrate(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    # Look before writing anything, so a foreign file is never modified ...
    tables = _tables(conn, path)
    _check_ours(tables, path)
    if META_TABLE in tables and _version(conn, path) == SCHEMA_VERSION:
        return
    # ... then decide again under the write lock: another process may be migrating.
    _lock_for_setup(conn, path, busy_timeout)
    try:
        tables = _tables(conn, path)
        _check_ours(tables, path)
        version = _version(conn, path) if META_TABLE in tables else 0
        while version < SCHEMA_VERSION:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            version += 1
        conn.execute(
            f"INSERT OR REPLACE INTO {META_TABLE} (key, value) VALUES "
            "('schema', 'workhorse'), ('version', ?)",
            (str(version),),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _lock_for_setup(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    """Switch to WAL and take the write lock.  While another opener sets up a new
    file, SQLite may answer "database is locked" at once (a journal-mode change does
    not always wait in the busy handler), so keep trying for ``busy_timeout``."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise _unavailable(path, "cannot lock the file to set up its tables", exc) from exc
            time.sleep(0.01)


def _statements(script: str) -> list[str]:
    """Split a DDL script into statements (triggers contain inner semicolons)."""
    out: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out


def _configure(conn: sqlite3.Connection, path: Path, synchronous: str) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise _unavailable(
            path,
            f"cannot use write-ahead logging (journal mode stays {mode!r}); put the file "
            "on a local file system",
        )
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    # Checkpoints run on the store's thread, never inline on an event loop (db.py).
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -16000")
