"""The ``exports`` job type: a user's sessions, contacts, quotes or invoices written as
a CSV, Excel, PDF, Word or JSON file, kept in an artifact store and offered through a
signed, expiring download URL.

Wiring (API process with in-process workers)::

    settings = ExportSettings()
    artifacts = ArtifactStore.from_settings(settings, api_settings)
    create_app(
        api_settings,
        processors=[partial(ExportProcessor, db=db, artifacts=artifacts)],
        extensions=[ExportsExtension(artifacts, sweep_interval=settings.sweep_interval)],
    )

A worker in another process builds the same :class:`ArtifactStore` (same directory,
same secret) for its :class:`ExportProcessor`; the API process serves the files and
runs the sweeper that removes them with their jobs.
"""

from workhorse_reference.exports.artifacts import Artifact, ArtifactStore
from workhorse_reference.exports.extension import ExportsExtension
from workhorse_reference.exports.processor import ExportProcessor
from workhorse_reference.exports.settings import ExportSettings
from workhorse_reference.exports.sweeper import Sweeper

__all__ = [
    "Artifact",
    "ArtifactStore",
    "ExportProcessor",
    "ExportSettings",
    "ExportsExtension",
    "Sweeper",
]
