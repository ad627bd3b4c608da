"""Downloading an export file over HTTP from a running API, by its signed URL: the
file with its type and name; a tampered, incomplete or expired URL is refused (403);
a removed file is gone (410)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from pydantic import ValidationError

from tests.api.conftest import serve
from tests.reference.exports_data import artifact_store
from workhorse.app import Settings
from workhorse.store.sqlite import SqliteStore
from workhorse_reference.exports import Artifact, ArtifactStore, ExportSettings, ExportsExtension


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Server:
    http: httpx.AsyncClient
    artifacts: ArtifactStore
    clock: Clock
    tmp_path: Path

    def put(self, filename: str, content: bytes, job_id: str = "42") -> Artifact:
        source = self.artifacts.workdir("exports", job_id) / filename
        source.write_bytes(content)
        return self.artifacts.put(
            source,
            queue="exports",
            job_id=job_id,
            filename=filename,
            format="csv",
            entity="contacts",
            rows=1,
            owner="alice",
        )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    clock = Clock()
    artifacts = artifact_store(tmp_path, clock=clock)
    store = SqliteStore(tmp_path / "jobs.db")
    extension = ExportsExtension(artifacts, sweep_interval=0)
    try:
        async for api in serve(store, tmp_path, extensions=[extension]):
            async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
                yield Server(http, artifacts, clock, tmp_path)
    finally:
        await store.close()


def _with(url: str, **changes: str) -> str:
    """``url`` with some query values replaced."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return f"{parts.path}?{urlencode(query)}"


@pytest.mark.parametrize(
    ("filename", "media_type"),
    [
        ("export-contacts-20260301-093000.csv", "text/csv; charset=utf-8"),
        (
            "export-all-20260301-093000.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("export-all-pdf-20260301-093000.zip", "application/zip"),
    ],
)
async def test_a_signed_url_downloads_the_file(
    server: Server, filename: str, media_type: str
) -> None:
    content = "Prénom,Nom\nZoë,Ødegaard\n".encode()
    artifact = server.put(filename, content)
    r = await server.http.get(server.artifacts.url(artifact))  # no bearer token needed
    assert r.status_code == 200, r.text
    assert r.content == content
    assert r.headers["content-type"] == media_type
    assert r.headers["content-disposition"] == f'attachment; filename="{filename}"'


async def test_a_tampered_url_is_refused(server: Server) -> None:
    artifact = server.put("export-contacts-20260301-093000.csv", b"a,b\n")
    other = server.put("export-contacts-20260301-093000.csv", b"secret\n", job_id="43")
    url = server.artifacts.url(artifact)
    signature = dict(parse_qsl(urlsplit(url).query))["signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    tampered = [
        _with(url, signature=flipped),
        _with(url, expires=str(artifact.expires_at + 3600)),  # a longer life
        _with(server.artifacts.url(other), signature=signature),  # another job's file
    ]
    for bad in tampered:
        r = await server.http.get(bad)
        assert r.status_code == 403, bad
        assert r.json()["detail"] == "this download link is invalid (bad signature)"
    r = await server.http.get(urlsplit(url).path)
    assert r.status_code == 403
    assert "incomplete" in r.json()["detail"]
    r = await server.http.get(_with(url, expires="soon"))
    assert r.status_code == 403
    assert "expires is not a time" in r.json()["detail"]


async def test_an_expired_url_is_refused(server: Server) -> None:
    server.clock.offset = -2 * server.artifacts.url_ttl  # made two lifetimes ago
    artifact = server.put("export-contacts-20260301-093000.csv", b"a,b\n")
    server.clock.offset = 0
    r = await server.http.get(server.artifacts.url(artifact))
    assert r.status_code == 403
    assert r.json()["detail"] == "this download link has expired: start a new export"


async def test_a_removed_file_is_gone(server: Server) -> None:
    artifact = server.put("export-contacts-20260301-093000.csv", b"a,b\n")
    server.artifacts.remove(server.artifacts.folder("exports", artifact.job_id))
    r = await server.http.get(server.artifacts.url(artifact))
    assert r.status_code == 410
    assert "removed" in r.json()["detail"]


def test_job_ids_become_safe_distinct_folders(tmp_path: Path) -> None:
    artifacts = artifact_store(tmp_path)
    ids = ["42", "email-42", "a/b", "..", ".hidden", "a~2Fb", "é", ""]
    folders = [artifacts.folder("exports", job_id) for job_id in ids]
    assert len(set(folders)) == len(ids)
    for folder in folders:
        assert folder.parent == artifacts.root / "exports"
        assert not folder.name.startswith(".")
        assert "/" not in folder.name


def test_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKHORSE_EXPORTS_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("WORKHORSE_EXPORTS_URL_TTL", "120")
    monkeypatch.setenv("WORKHORSE_EXPORTS_BASE_URL", "https://api.example.test/")
    api = Settings(secret_key="k" * 40, db_path=str(tmp_path / "jobs.db"))
    artifacts = ArtifactStore.from_settings(ExportSettings(), api)
    assert artifacts.root == tmp_path / "files"
    assert artifacts.url_ttl == 120
    same_key = ArtifactStore(tmp_path, "k" * 40)  # the API's secret signs the URLs
    path = "/api/exports/files/exports/1/f.csv"
    assert artifacts.signer.sign(path, 10) == same_key.signer.sign(path, 10)
    source = artifacts.workdir("exports", "7") / "f.csv"
    source.write_text("x")
    artifact = artifacts.put(
        source,
        queue="exports",
        job_id="7",
        filename="f.csv",
        format="csv",
        entity="contacts",
        rows=0,
        owner=None,
    )
    assert artifacts.url(artifact).startswith("https://api.example.test/api/exports/files/")
    assert artifact.expires_at - artifact.created_at == pytest.approx(120, abs=1)

    monkeypatch.setenv("WORKHORSE_EXPORTS_BATCH_SIZE", "0")
    with pytest.raises(ValidationError, match="batch_size"):
        ExportSettings()
