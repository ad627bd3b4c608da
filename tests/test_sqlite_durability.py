"""Durability of the SQLite store: producers and workers, each a real process on one
database file, are killed with SIGKILL at random moments -- in the middle of adds,
takes, completions, log writes, lock renewals, checkpoints -- and restarted.

Afterwards the file must be intact (``PRAGMA integrity_check``), its bookkeeping
exact (per-state counters equal the jobs), every acknowledged job present and run to
completion, and every bulk add all-or-nothing.

This file is also the producer program (``python -m tests.test_sqlite_durability``).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import pytest

from workhorse import JobOptions, JobState, Queue
from workhorse.store.sqlite import SqliteStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "crash"  # the queue of tests/apps/crash_app.py
CHAOS_SECONDS = 6.0


# ---- the producer program -------------------------------------------------------------
async def produce(db: str, tag: str, log: TextIO, total: int) -> None:
    """Add jobs in bulks of random size with explicit ids; write ``intent`` before and
    ``ack`` after each add, so the test knows what was acknowledged."""
    store = SqliteStore(db)
    queue = Queue(QUEUE, store)
    rng = random.Random(tag)
    keep = JobOptions(remove_on_complete=False, remove_on_fail=False)
    done = 0
    while done < total:
        ids = [f"{tag}-{done + k}" for k in range(rng.randint(1, 20))]
        log.write("intent " + " ".join(ids) + "\n")
        log.flush()
        await queue.add_bulk([("j", {"sleep": 0.002}, replace(keep, job_id=i)) for i in ids])
        log.write("ack " + " ".join(ids) + "\n")
        log.flush()
        done += len(ids)
        await asyncio.sleep(rng.uniform(0, 0.03))
    await store.close()


# ---- the test ---------------------------------------------------------------------------
class Fleet:
    """Producer and worker processes on one database file."""

    def __init__(self, db: Path, logs: Path) -> None:
        self.db = db
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "WH_TEST_STORE_URL": f"sqlite:///{self.db}",
            "WH_TEST_LOCK": "1.0",
        }

    def start(self, role: str) -> None:
        self.started += 1
        name = f"{role}{self.started}"
        if role == "producer":
            cmd = [
                sys.executable,
                "-m",
                "tests.test_sqlite_durability",
                str(self.db),
                f"p{self.started}",
                str(self.logs / f"{name}.log"),
                "5000",
            ]
        else:
            cmd = [sys.executable, "-m", "workhorse.cli", "worker", "tests.apps.crash_app:app"]
        self.procs[name] = subprocess.Popen(
            cmd, env=self._env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def kill_one(self, rng: random.Random, role: str) -> None:
        name = rng.choice(sorted(n for n in self.procs if n.startswith(role)))
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop(self, role: str, sig: int = signal.SIGKILL) -> None:
        for name in [n for n in self.procs if n.startswith(role)]:
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.send_signal(sig)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def alive(self, role: str) -> int:
        return sum(1 for n, p in self.procs.items() if n.startswith(role) and p.poll() is None)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path / "chaos.db", tmp_path)
    yield f
    for proc in f.procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _read_logs(folder: Path) -> tuple[list[list[str]], set[str]]:
    intents: list[list[str]] = []
    acked: set[str] = set()
    for log in folder.glob("producer*.log"):
        more_intents, more_acked = _read_log(log)
        intents += more_intents
        acked |= more_acked
    return intents, acked


def _read_log(path: Path) -> tuple[list[list[str]], set[str]]:
    """Intended bulks (complete lines only) and acknowledged ids."""
    intents: list[list[str]] = []
    acked: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            continue  # cut short by the kill
        kind, *ids = line.split()
        if kind == "intent":
            intents.append(ids)
        elif kind == "ack":
            acked.update(ids)
    return intents, acked


async def test_random_sigkills_of_producers_and_workers(fleet: Fleet, tmp_path: Path) -> None:
    store = SqliteStore(fleet.db)
    queue = Queue(QUEUE, store)
    await store.ping()
    for role in ("producer", "producer", "worker", "worker"):
        fleet.start(role)
    rng = random.Random(4321)
    kills = {"producer": 0, "worker": 0}
    deadline = time.monotonic() + CHAOS_SECONDS
    while time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(0.05, 0.4))
        role = rng.choice(("producer", "worker"))
        fleet.kill_one(rng, role)
        kills[role] += 1
        fleet.start(role)
    fleet.stop("producer")
    while fleet.alive("worker") < 2:
        fleet.start("worker")

    # Let the workers finish everything, including the jobs of the killed ones.
    pending = (JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED, JobState.ACTIVE)
    end = time.monotonic() + 90
    while time.monotonic() < end:
        counts = await queue.counts()
        if not any(counts[s] for s in pending):
            break
        await asyncio.sleep(0.2)
    fleet.stop("worker", signal.SIGTERM)
    counts = await queue.counts()
    await store.close()

    assert kills["producer"] >= 3 and kills["worker"] >= 3, kills
    conn = sqlite3.connect(fleet.db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        actual = dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
        kept = dict(conn.execute("SELECT state, n FROM counts WHERE n != 0").fetchall())
        assert kept == actual, "per-state counters drifted from the jobs"
        ids = {r[0] for r in conn.execute("SELECT id FROM jobs")}
        states = dict(conn.execute("SELECT id, state FROM jobs").fetchall())
    finally:
        conn.close()

    intents, acked = _read_logs(tmp_path)
    assert len(acked) > 200, "the producers must have added a fair number of jobs"
    assert acked <= ids, f"acknowledged jobs lost: {sorted(acked - ids)[:10]}"
    for bulk in intents:
        present = [i in ids for i in bulk]
        assert all(present) or not any(present), f"a bulk add was cut in half: {bulk}"
    assert all(state == "completed" for state in states.values()), counts
    assert counts[JobState.COMPLETED] == len(ids)
    print(f"kills {kills}, jobs {len(ids)}, acknowledged {len(acked)}, bulks {len(intents)}")


def main(db: str, tag: str, log_path: str, total: str) -> None:
    with open(log_path, "a", encoding="utf-8") as log:
        asyncio.run(produce(db, tag, log, int(total)))


if __name__ == "__main__":
    main(*sys.argv[1:5])
