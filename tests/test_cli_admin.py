"""The CLI's web and admin commands as real processes: ``demo`` (API + workers on
the embedded store, tokens from ``workhorse token`` accepted), ``token``, and
``queues`` / ``jobs`` / ``job`` / ``retry`` / ``clean`` / ``pause`` / ``resume``
on a real SQLite file."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from workhorse import Queue, Worker
from workhorse.job import Job
from workhorse.store import connect

CLI = [sys.executable, "-m", "workhorse.cli"]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "WORKHORSE_"))}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=_env()
    )


class Lines:
    """A child's stdout, read by a thread so the test can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)  # end of output: the process exited

    def until(self, marker: str) -> list[str]:
        seen = []
        while True:
            line = self.lines.get(timeout=30)
            if line is None:
                assert self.proc.stderr is not None
                pytest.fail(f"exited before {marker!r}: {seen} {self.proc.stderr.read()}")
            seen.append(line.rstrip("\n"))
            if marker in line:
                return seen


@contextlib.contextmanager
def server(args: list[str], cwd: Path, marker: str, **env: str) -> Iterator[list[str]]:
    """Run ``workhorse <args>`` until the test is done; yields its output up to the
    line containing ``marker`` (printed once it serves), then stops it with SIGTERM."""
    proc = subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        env={**_env(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Lines(proc).until(marker)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.stderr is not None
        errors = proc.stderr.read()
        proc.stderr.close()
        assert proc.stdout is not None
        proc.stdout.close()
    # uvicorn shuts down gracefully, then re-raises SIGTERM as the exit status.
    assert proc.returncode in (0, -signal.SIGTERM), errors
    assert "Traceback" not in errors


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    with server(["demo", "--port", "0"], tmp_path, "curl -N") as banner:
        start = banner.index("Demo users and their bearer tokens:")
        tokens = dict(line.split() for line in banner[start + 1 : start + 4])
        base = banner[0].removeprefix("Workhorse demo running at ")
        assert base.startswith("http://127.0.0.1:")
        yield base, tokens, tmp_path


def _follow(http: httpx.Client, url: str) -> list[dict[str, Any]]:
    frames = []
    with http.stream("GET", url) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                frames.append(orjson.loads(line[6:]))
    return frames


def test_demo_runs_exports_end_to_end_and_accepts_cli_tokens(
    demo: tuple[str, dict[str, str], Path],
) -> None:
    base, tokens, cwd = demo
    assert set(tokens) == {"alice", "bob", "admin"}
    assert (cwd / ".workhorse" / "workhorse.db").exists()
    minted = run("token", "bob", cwd=cwd)  # same working directory → same secret
    assert minted.returncode == 0, minted.stderr
    bob = minted.stdout.strip()
    with httpx.Client(base_url=base, timeout=30) as http:
        assert http.get("/health").json() == {"status": "ok", "store": "ok"}
        r = http.get(
            "/api/export",
            params={"entity": "invoices", "format": "csv"},
            headers={"Authorization": f"Bearer {bob}"},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["jobId"]
        frames = _follow(http, f"/api/queues/exports/jobs/{job_id}/events?token={bob}")
        assert frames[-1]["status"] == "completed"
        result = frames[-1]["result"]["data"]
        assert result["entity"] == "invoices"
        # The demo's own data for bob, exported for real: download it and read it.
        rows = list(csv.reader(io.StringIO(http.get(result["url"]).text)))
        assert len(rows) == result["rows"] + 1 >= 2
        assert rows[0][:2] == ["ID", "Number"]
        alice = {"Authorization": f"Bearer {tokens['alice']}"}
        assert http.get(f"/api/export/status/{job_id}", headers=alice).status_code == 404
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        assert http.get(f"/api/export/status/{job_id}", headers=admin).json()["state"] == (
            "completed"
        )


def test_serve_accepts_tokens_minted_in_the_same_directory(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    with server(
        ["serve", "--port", "0"], tmp_path, "Workhorse API at", WORKHORSE_STORE_URL=url
    ) as out:
        base = out[-1].split()[3]
        token = run("token", "dora", cwd=tmp_path).stdout.strip()
        with httpx.Client(base_url=base, timeout=30) as http:
            mine = http.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
            assert mine.status_code == 200
            assert mine.json() == []
            r = http.get(
                "/api/export",
                params={"entity": "all", "format": "json"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 202
    assert (tmp_path / "served.db").exists()
    assert url in out[-1]


def test_token_prints_a_token_the_api_decodes(tmp_path: Path) -> None:
    from workhorse.api import decode_token
    from workhorse.app import Settings

    result = run("token", "carol", "--admin", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    body = orjson.loads(result.stdout)
    secret = Settings(db_path=str(tmp_path / ".workhorse" / "workhorse.db")).secret(create=False)
    principal = decode_token(secret, body["token"])
    assert (principal.user_id, principal.admin) == ("carol", True)


# ---- admin commands ---------------------------------------------------------------
@pytest.fixture
async def seeded(tmp_path: Path) -> str:
    """A SQLite store with queue ``mail``: 3 failed jobs, 2 completed, 1 waiting."""
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    store = connect(url)
    q = Queue("mail", store)

    async def handler(job: Job) -> Any:
        if job.data["fail"]:
            raise RuntimeError(f"smtp down for {job.data['n']}")
        return {"sent": job.data["n"]}

    await q.add_bulk([("send", {"n": i, "fail": i < 3}) for i in range(5)])
    await Worker(q, handler).run(burst=True)
    await q.add("send", {"n": 9, "fail": False}, job_id="mail-9")
    await store.close()
    return url


def _json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_queues_and_jobs_listing(seeded: str) -> None:
    (mail,) = _json("queues", "--url", seeded)
    assert (mail["queue"], mail["failed"], mail["completed"], mail["waiting"]) == ("mail", 3, 2, 1)
    assert mail["paused"] is False
    failed = _json("jobs", "mail", "--state", "failed", "--url", seeded)
    assert sorted(j["failedReason"] for j in failed) == [f"smtp down for {i}" for i in range(3)]
    human = run("queues", "--url", seeded)
    assert human.stdout.splitlines()[0].split()[:4] == ["queue", "paused", "waiting", "prioritized"]
    assert human.stdout.splitlines()[1].split()[:3] == ["mail", "False", "1"]
    listing = run("jobs", "mail", "--state", "waiting", "--url", seeded)
    assert "mail-9" in listing.stdout


def test_job_shows_one_job_or_says_it_is_missing(seeded: str) -> None:
    failed = _json("jobs", "mail", "--url", seeded)
    detail = _json("job", "mail", failed[0]["id"], "--url", seeded)
    assert detail["state"] == "failed"
    assert detail["data"]["fail"] is True
    assert "RuntimeError" in detail["stacktrace"]
    human = run("job", "mail", failed[0]["id"], "--url", seeded)
    assert "smtp down" in human.stdout
    missing = run("job", "mail", "nope-1", "--url", seeded)
    assert missing.returncode == 1
    assert "no job 'nope-1' in queue 'mail'" in missing.stderr


def test_retry_one_then_all_failed(seeded: str) -> None:
    failed = _json("jobs", "mail", "--url", seeded)
    one = _json("retry", "mail", failed[0]["id"], "--url", seeded)
    assert one == {"queue": "mail", "retried": 1}
    again = run("retry", "mail", failed[0]["id"], "--url", seeded)
    assert again.returncode == 2
    assert "Traceback" not in again.stderr
    rest = run("retry", "mail", "--url", seeded)
    assert rest.stdout.strip() == "retried 2 job(s) in mail"
    (mail,) = _json("queues", "--url", seeded)
    assert (mail["failed"], mail["waiting"]) == (0, 4)


def test_clean_and_pause_resume(seeded: str) -> None:
    assert _json("clean", "mail", "--state", "completed", "--url", seeded)["removed"] == 2
    assert _json("clean", "mail", "--state", "failed", "--limit", "1", "--url", seeded) == {
        "queue": "mail",
        "state": "failed",
        "removed": 1,
    }
    assert run("pause", "mail", "--url", seeded).stdout.strip() == "mail paused"
    (mail,) = _json("queues", "--url", seeded)
    assert (mail["paused"], mail["completed"], mail["failed"]) == (True, 0, 2)
    assert _json("resume", "mail", "--url", seeded) == {"queue": "mail", "paused": False}


def test_progress_bar_draws_on_a_terminal_only() -> None:
    import io

    from workhorse.app.console import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    with ProgressBar("retrying", 4, stream=tty, width=4) as bar:
        bar.advance(2)
        bar.advance(2)
    assert tty.getvalue().split("\r")[1:] == [
        "retrying [----] 0/4",
        "retrying [##--] 2/4",
        "retrying [####] 4/4\n",
    ]
    pipe = io.StringIO()
    with ProgressBar("retrying", 4, stream=pipe) as bar:
        bar.advance(4)
    assert pipe.getvalue() == ""
