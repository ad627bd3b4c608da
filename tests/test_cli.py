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
