"""Settings of the exports, from the environment (``WORKHORSE_EXPORTS_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DIR = ".workhorse/exports"


class ExportSettings(BaseSettings):
    """Environment variables (names are case-insensitive):

    - ``WORKHORSE_EXPORTS_DIR``: where export files are kept (default
      ``.workhorse/exports``, beside the embedded store);
    - ``WORKHORSE_EXPORTS_URL_TTL``: seconds a download URL stays valid (default one
      hour, the exports queue's retention of completed jobs); the file is removed
      when its URL expires or its job is removed, whichever comes first;
    - ``WORKHORSE_EXPORTS_SECRET``: the key that signs download URLs (default: the
      API's secret, ``WORKHORSE_SECRET_KEY`` or its generated key file);
    - ``WORKHORSE_EXPORTS_BASE_URL``: prefix of download URLs, e.g.
      ``https://api.example.com`` (default: none, URLs relative to the API);
    - ``WORKHORSE_EXPORTS_SWEEP_INTERVAL``: seconds between two sweeps of files
      whose job is gone (default 60; 0 turns the sweeper off);
    - ``WORKHORSE_EXPORTS_BATCH_SIZE``: rows read and written per batch (1000);
    - ``WORKHORSE_EXPORTS_MAX_PDF_ROWS``: the largest PDF export, in rows (20,000,
      about 500 pages; fpdf2 keeps a document in memory, about 2 kB a row, and a
      longer table is better read as a spreadsheet).
    """

    model_config = SettingsConfigDict(env_prefix="WORKHORSE_EXPORTS_", extra="ignore")

    dir: Path = Path(DEFAULT_DIR)
    url_ttl: float = Field(default=3600.0, gt=0)
    secret: str | None = Field(default=None, min_length=32)
    base_url: str = ""
    sweep_interval: float = Field(default=60.0, ge=0)
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    max_pdf_rows: int = Field(default=20_000, ge=1)
