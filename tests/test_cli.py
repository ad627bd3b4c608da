"""The ``workhorse`` command: worker start-up errors say what to do; example runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, require_redis


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workhorse.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nomodule", "package.module:app"),
        ("no_such_module_xyz:app", "cannot import 'no_such_module_xyz'"),
        ("tests.apps.crash_app:missing", "is not a Workhorse object"),
    ],
)
def test_worker_with_a_bad_target_explains_the_fix(target: str, message: str) -> None:
    result = run_cli("worker", target, "--burst")
    assert result.returncode != 0
    assert message in result.stderr


def test_worker_with_an_unknown_queue_names_the_known_ones() -> None:
    require_redis()
    result = run_cli("worker", "tests.apps.crash_app:app", "--queues", "nope", "--burst")
    assert result.returncode == 2
    assert "no processor registered for queue(s) nope; known: crash" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_with_redis_down_names_the_address() -> None:
    env = {**os.environ, "WH_TEST_URL": "redis://127.0.0.1:1/0"}
    result = run_cli("worker", "tests.apps.crash_app:app", "--burst", env=env)
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_example_runs_to_completion() -> None:
    require_redis()
    result = run_cli("example", "--url", REDIS_URL, "--jobs", "5")
    assert result.returncode == 0, result.stderr
    assert "flaky result after a retry: {'doubled': 42}" in result.stdout
    assert "final counts: {'completed': 7}" in result.stdout


def test_example_runs_on_the_embedded_store_by_default(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "WORKHORSE_"))}
    result = subprocess.run(
        [sys.executable, "-m", "workhorse.cli", "example", "--jobs", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "on sqlite:///.workhorse/workhorse.db" in result.stdout
    assert "final counts: {'completed': 5}" in result.stdout
    assert (tmp_path / ".workhorse" / "workhorse.db").exists()


async def test_scheduler_command_enqueues_ticks_and_stops_on_sigterm(tmp_path: Path) -> None:
    import asyncio
    import signal

    from workhorse import JobOptions, JobState, Queue, Schedule, upsert_schedule
    from workhorse.store import connect

    url = f"sqlite:///{tmp_path / 'sched.db'}"
    store = connect(url)
    keep = JobOptions(remove_on_complete=False)
    await upsert_schedule(store, Schedule("tick", "ticks", "tick", every=0.3, options=keep))
    proc = subprocess.Popen(  # noqa: ASYNC220 -- a server process; started once, not awaited
        [sys.executable, "-m", "workhorse.cli", "scheduler", "--url", url, "--poll", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        queue = Queue("ticks", store)
        for _ in range(100):
            if (await queue.counts())[JobState.WAITING] >= 2:
                break
            await asyncio.sleep(0.1)
        jobs = await queue.list_jobs(JobState.WAITING, 0, -1)
        assert len(jobs) >= 2, "the scheduler enqueued ticks"
        assert all(j.id.startswith("sched:tick:") for j in jobs)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert "scheduler running on" in (proc.stdout.read() if proc.stdout else "")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
        await store.close()


def test_dashboard_user_prints_an_entry_the_dashboard_accepts() -> None:
    from workhorse.dashboard.users import DashboardUser, check_login

    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "workhorse.cli",
            "dashboard-user",
            "ops",
            "--role=admin",
            "--password-stdin",
        ],
        input="correct horse\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert "WORKHORSE_DASHBOARD_USERS" in made.stderr
    entry = DashboardUser.model_validate_json(made.stdout)
    assert (entry.user, entry.role) == ("ops", "admin")
    assert check_login([entry], "ops", "correct horse") == entry
    assert check_login([entry], "ops", "wrong horse") is None

    short = subprocess.run(
        [sys.executable, "-m", "workhorse.cli", "dashboard-user", "ops", "--password-stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 1
    assert "at least 8 characters" in short.stderr
