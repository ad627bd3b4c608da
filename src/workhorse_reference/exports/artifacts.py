"""The artifact store: export files on a local directory, one folder per job, and
their signed download URLs.

Layout under the root directory::

    <queue>/<job id>/<filename>        the file
    <queue>/<job id>/.artifact.json    what it is, whose, until when (Artifact)
    <queue>/<job id>/.notified.json    the "export ready" e-mail was sent (Notice)
    .tmp/<queue>-<job id>-<random>/    an export being written (one per attempt)

Queue names and job ids are written as path segments by :func:`segment`: letters,
digits, ``_``, ``-`` and inner dots stay; any other character becomes ``~XX`` per
UTF-8 byte, so each job id has a safe folder name of its own.  Files are moved in
with a rename from ``.tmp`` (same file system), so a file is either absent or whole.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from workhorse.app.settings import Settings
from workhorse_reference.exports.settings import ExportSettings
from workhorse_reference.exports.signing import UrlSigner

URL_PREFIX = "/api/exports/files"
META = ".artifact.json"
NOTICE = ".notified.json"
TMP = ".tmp"
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def segment(value: str) -> str:
    """``value`` as one safe path segment, distinct for distinct values (never
    empty, never starting with a dot)."""
    out = []
    for i, ch in enumerate(value):
        if ch in _PLAIN and not (ch == "." and i == 0):
            out.append(ch)
        else:
            out.extend(f"~{b:02X}" for b in ch.encode())
    return "".join(out) or "~"


@dataclass(frozen=True, slots=True)
class Artifact:
    """One stored export file."""

    queue: str
    job_id: str
    filename: str
    format: str
    entity: str
    rows: int
    size: int  # bytes
    owner: str | None
    created_at: float  # epoch seconds
    expires_at: int  # epoch seconds: the download URL's expiry

    @property
    def expires_iso(self) -> str:
        when = dt.datetime.fromtimestamp(self.expires_at, dt.UTC)
        return when.isoformat().replace("+00:00", "Z")

    @classmethod
    def from_json(cls, raw: bytes) -> Artifact:
        return cls(**json.loads(raw))


@dataclass(frozen=True, slots=True)
class Notice:
    """The record that a job's "export ready" e-mail was accepted by the mail
    server: ``key`` is what its Message-ID was derived from (the job's id and
    creation time), so a notice left by an earlier job with the same id is told
    apart."""

    key: str
    message_id: str
    to: str
    sent_at: float  # epoch seconds

    @classmethod
    def from_json(cls, raw: bytes) -> Notice:
        return cls(**json.loads(raw))


class ArtifactStore:
    """Export files under ``root`` with URLs signed by ``secret``, valid ``url_ttl``
    seconds.  ``base_url`` prefixes the URLs (default: relative to the API)."""

    def __init__(
        self,
        root: Path,
        secret: str,
        *,
        url_ttl: float = 3600.0,
        base_url: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if url_ttl <= 0:
            raise ValueError(f"url_ttl must be > 0 seconds, got {url_ttl}")
        self.root = Path(root)
        self.signer = UrlSigner(secret)
        self.url_ttl = url_ttl
        self.base_url = base_url.rstrip("/")
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: ExportSettings, api: Settings | None = None) -> ArtifactStore:
        """The store of ``settings``; the URL secret defaults to the API's."""
        secret = settings.secret or (api or Settings()).secret()
        return cls(settings.dir, secret, url_ttl=settings.url_ttl, base_url=settings.base_url)

    # ---- writing ------------------------------------------------------------------
    def workdir(self, queue: str, job_id: str) -> Path:
        """A new empty folder for one attempt's files (remove it when done)."""
        parent = self.root / TMP
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{segment(queue)}-{segment(job_id)}-", dir=parent))

    def put(
        self,
        source: Path,
        *,
        queue: str,
        job_id: str,
        filename: str,
        format: str,
        entity: str,
        rows: int,
        owner: str | None,
    ) -> Artifact:
        """Move ``source`` in as job ``job_id``'s file ``filename`` (replacing an
        earlier attempt's) and describe it; its URL expires ``url_ttl`` from now.
        An earlier attempt's :class:`Notice` is kept: it records an e-mail sent for
        the job, whichever of its files that e-mail linked to."""
        now = self.clock()
        artifact = Artifact(
            queue=queue,
            job_id=job_id,
            filename=filename,
            format=format,
            entity=entity,
            rows=rows,
            size=source.stat().st_size,
            owner=owner,
            created_at=now,
            expires_at=int(now + self.url_ttl),
        )
        folder = self.folder(artifact.queue, artifact.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            if old.name not in (META, NOTICE):
                old.unlink()
        _write_json(folder / META, asdict(artifact))
        os.replace(source, folder / filename)
        return artifact

    def record_notice(self, queue: str, job_id: str, notice: Notice) -> None:
        """Keep ``notice`` in the job's folder (replacing an earlier one)."""
        _write_json(self.folder(queue, job_id) / NOTICE, asdict(notice))

    # ---- reading ------------------------------------------------------------------
    def folder(self, queue: str, job_id: str) -> Path:
        return self.root / segment(queue) / segment(job_id)

    def url_path(self, artifact: Artifact) -> str:
        q, j = segment(artifact.queue), segment(artifact.job_id)
        return f"{URL_PREFIX}/{q}/{j}/{artifact.filename}"

    def url(self, artifact: Artifact) -> str:
        """The signed download URL of ``artifact``, valid until its expiry."""
        path = self.url_path(artifact)
        signature = self.signer.sign(path, artifact.expires_at)
        return f"{self.base_url}{path}?expires={artifact.expires_at}&signature={signature}"

    def artifact_of(self, queue: str, job_id: str) -> Artifact | None:
        """The artifact stored for job ``job_id`` when its file is there, whole
        (None when there is none, or an attempt died between the description and
        the file)."""
        folder = self.folder(queue, job_id)
        artifact = _read_meta(folder)
        if artifact is None:
            return None
        try:
            size = (folder / artifact.filename).stat().st_size
        except OSError:
            return None
        return artifact if size == artifact.size else None

    def notice(self, queue: str, job_id: str) -> Notice | None:
        """The job's :class:`Notice`, or None when no e-mail was recorded."""
        try:
            return Notice.from_json((self.folder(queue, job_id) / NOTICE).read_bytes())
        except (OSError, ValueError, TypeError):
            return None

    def file(self, queue_segment: str, job_segment: str, filename: str) -> Path | None:
        """The stored file at these URL path segments, or None when it is not there."""
        parts = (queue_segment, job_segment, filename)
        if any(not p or p.startswith(".") or "/" in p or "\\" in p for p in parts):
            return None
        path = self.root.joinpath(*parts)
        return path if path.is_file() else None

    def stored(self) -> Iterator[tuple[Path, Artifact | None]]:
        """Every job folder, with its description (None when unreadable)."""
        if not self.root.is_dir():
            return
        for queue_dir in self.root.iterdir():
            if queue_dir.name.startswith(".") or not queue_dir.is_dir():
                continue
            for folder in queue_dir.iterdir():
                if folder.is_dir():
                    yield folder, _read_meta(folder)

    def workdirs(self) -> Iterator[Path]:
        """The folders of exports being written (or left by a crashed worker)."""
        parent = self.root / TMP
        if parent.is_dir():
            yield from (p for p in parent.iterdir() if p.is_dir())

    def remove(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)


def _write_json(path: Path, value: object) -> None:
    """Write ``path`` whole or not at all (a ``.part`` file renamed over it)."""
    part = path.with_name(f"{path.name}.part")
    part.write_text(json.dumps(value))
    os.replace(part, path)


def _read_meta(folder: Path) -> Artifact | None:
    try:
        return Artifact.from_json((folder / META).read_bytes())
    except (OSError, ValueError, TypeError):
        return None
