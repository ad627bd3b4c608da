"""Model-based test of the store's job state machine (hypothesis ``stateful``).

A simple in-memory model (state per job, FIFO order of waiting jobs, priority + FIFO
order of prioritized jobs, which jobs are held) is driven side by side with a real
store through random sequences of add / take / complete / retry / fail / promote /
stall / cancel / retry-failed.  After every step the store must agree with the
model: counts per state, each job's state, and the take order of ready jobs.

The test is synchronous and runs each store call on an event loop of its own (one per
example), with a fresh store (Redis: a fresh key prefix; SQLite: a fresh file) and a
clock the test moves by hand.  It runs once per store kind.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import REDIS_URL, delete_prefix, require_redis
from workhorse import JobOptions, JobState, Queue, RedisStore
from workhorse.clock import now_ms
from workhorse.store.base import Outcome, OutcomeKind, Store
from workhorse.store.sqlite import SqliteStore

T = TypeVar("T")

TOKEN = "tok"
STALL_TOKEN = "stall-tok"
LOCK_MS = 3_600_000  # held jobs never expire unless a rule makes them
FAR = 10**6  # seconds: delayed jobs never fall due on their own
MAX_STALLED = 1

W, P, D = JobState.WAITING, JobState.PRIORITIZED, JobState.DELAYED
A, C, F = JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED
PENDING = (W, P, D)
JOB_SPECS = st.tuples(st.sampled_from([None, 1, 2, 3]), st.booleans())  # (priority, delayed)


class ManualClock:
    def __init__(self) -> None:
        self.now = now_ms()

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class StoreMachine(RuleBasedStateMachine):
    """The rules and the model; a subclass per store kind supplies the store."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock()
        self.store = self.open_store()
        # Keep every finished job so that the model can count them.
        keep_all = JobOptions(remove_on_complete=False, remove_on_fail=False)
        self.queue = Queue("sm", self.store, default_options=keep_all)
        # The model.
        self.state: dict[str, JobState] = {}
        self.prio: dict[str, int] = {}
        self.stalls: dict[str, int] = {}
        self.made: dict[str, int] = {}  # attempts made (outcomes reported)
        self.waiting: list[str] = []  # take order
        self.prioritized: list[tuple[int, int, str]] = []  # (priority, seq, id)
        self.seq = 0
        self.held: set[str] = set()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def open_store(self) -> Store:
        raise NotImplementedError

    def discard_store(self) -> None:
        """Delete what the example stored (the store is closed already)."""

    def teardown(self) -> None:
        try:
            self.run(self.store.close())
        finally:
            self.loop.close()
            self.discard_store()

    # ---- model helpers ----------------------------------------------------------
    def make_ready(self, job_id: str) -> None:
        if self.prio[job_id]:
            self.seq += 1
            self.prioritized.append((self.prio[job_id], self.seq, job_id))
            self.prioritized.sort()
            self.state[job_id] = P
        else:
            self.waiting.append(job_id)
            self.state[job_id] = W

    def unlink_ready(self, job_id: str) -> None:
        if job_id in self.waiting:
            self.waiting.remove(job_id)
        self.prioritized = [e for e in self.prioritized if e[2] != job_id]

    def expected_take(self, n: int) -> list[str]:
        ids = [e[2] for e in self.prioritized[:n]]
        return ids + self.waiting[: n - len(ids)]

    def apply_take(self, taken: list[str]) -> None:
        for job_id in taken:
            self.unlink_ready(job_id)
            self.state[job_id] = A

    def ids_in(self, *states: JobState) -> list[str]:
        """Ids of the jobs in these states, in the order they were added."""
        return [i for i, s in self.state.items() if s in states]

    def take_from_store(self, token: str, n: int, lock_ms: int) -> list[str]:
        expected = self.expected_take(n)
        jobs, refused = self.run(self.store.fetch(self.queue.name, token, [], n, lock_ms))
        taken = [j.id for j in jobs]
        assert refused == []
        assert taken == expected
        assert len(set(taken)) == len(taken)
        assert not set(taken) & self.held, "a job was handed to two takes"
        for job in jobs:
            assert job.state is A
            assert job.priority == self.prio[job.id]
            assert job.attempts_made == self.made[job.id]
        self.apply_take(taken)
        return taken

    # ---- rules ------------------------------------------------------------------
    @initialize(specs=st.lists(JOB_SPECS, max_size=6))
    def start(self, specs: list[tuple[int | None, bool]]) -> None:
        counts = self.run(self.store.counts(self.queue.name))
        assert not any(counts.values())
        assert self.run(self.queue.cancel("no-such-job")) is None
        self.add(specs)

    @rule(specs=st.lists(JOB_SPECS, min_size=1, max_size=4))
    def add(self, specs: list[tuple[int | None, bool]]) -> None:
        """Add jobs (one call, in order), each with a priority or none, delayed or not."""
        if not specs:
            return
        defaults = self.queue.default_options
        items = [
            ("job", n, replace(defaults, priority=priority, delay=FAR if delayed else 0))
            for n, (priority, delayed) in enumerate(specs)
        ]
        jobs = self.run(self.queue.add_bulk(items))
        assert len(jobs) == len(specs)
        for job, (priority, delayed) in zip(jobs, specs, strict=True):
            assert job.id not in self.state
            self.prio[job.id] = priority or 0
            self.stalls[job.id] = 0
            self.made[job.id] = 0
            if delayed:
                self.state[job.id] = D
            else:
                self.make_ready(job.id)

    @precondition(lambda self: self.prioritized or self.waiting)
    @rule(n=st.integers(1, 3))
    def take(self, n: int) -> None:
        self.held.update(self.take_from_store(TOKEN, n, LOCK_MS))

    @precondition(lambda self: self.held)
    @rule(data=st.data(), then_take=st.integers(0, 2))
    def complete(self, data: st.DataObject, then_take: int) -> None:
        self.finish(data, OutcomeKind.COMPLETE, then_take)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), then_take=st.integers(0, 2))
    def retry(self, data: st.DataObject, then_take: int) -> None:
        self.finish(data, OutcomeKind.RETRY, then_take)

    @precondition(lambda self: self.held)
    @rule(data=st.data(), then_take=st.integers(0, 2))
    def fail(self, data: st.DataObject, then_take: int) -> None:
        self.finish(data, OutcomeKind.FAIL, then_take)

    def finish(self, data: st.DataObject, kind: OutcomeKind, then_take: int) -> None:
        """Report the outcome of one held job, taking ``then_take`` more in the same
        call (as a worker does)."""
        job_id = data.draw(st.sampled_from(self.ids_in(A)), label="job")
        value = b"1" if kind is OutcomeKind.COMPLETE else "it broke"
        outcome = Outcome(job_id, kind, value, "stack", 0)
        # The outcome is applied before the take of the same call.
        self.held.discard(job_id)
        self.made[job_id] += 1
        if kind is OutcomeKind.COMPLETE:
            self.state[job_id] = C
        elif kind is OutcomeKind.FAIL:
            self.state[job_id] = F
        else:
            self.make_ready(job_id)
        expected = self.expected_take(then_take)
        jobs, refused = self.run(
            self.store.fetch(self.queue.name, TOKEN, [outcome], then_take, LOCK_MS)
        )
        assert refused == []
        taken = [j.id for j in jobs]
        assert taken == expected
        assert not set(taken) & self.held, "a job was handed to two takes"
        self.apply_take(taken)
        self.held.update(taken)

        job = self.run(self.queue.get_job(job_id))
        assert job is not None
        if kind is OutcomeKind.COMPLETE:
            assert job.returnvalue == 1
        elif kind is OutcomeKind.FAIL:
            assert job.failed_reason == "it broke"

    @precondition(lambda self: any(s is D for s in self.state.values()))
    @rule(data=st.data())
    def promote(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.ids_in(D)), label="job")
        self.run(self.queue.promote(job_id))
        self.make_ready(job_id)

    @precondition(lambda self: self.prioritized or self.waiting)
    @rule()
    def stall(self) -> None:
        """A worker takes one job with a 1 ms lock and dies; the lock expires and the
        stalled check requeues it (or fails it once it stalled too often)."""
        (job_id,) = self.take_from_store(STALL_TOKEN, 1, 1)
        self.clock.advance(2)
        report = self.run(self.store.recover_stalled(self.queue.name, MAX_STALLED))
        self.stalls[job_id] += 1
        if self.stalls[job_id] > MAX_STALLED:
            assert (report.requeued, report.failed) == ([], [job_id])
            self.state[job_id] = F
        else:
            assert (report.requeued, report.failed) == ([job_id], [])
            self.make_ready(job_id)
        # The dead worker's late outcome is refused: it holds the lock no more.
        jobs, refused = self.run(
            self.store.fetch(
                self.queue.name, STALL_TOKEN, [Outcome(job_id, OutcomeKind.COMPLETE, b"1")], 0, 0
            )
        )
        assert (jobs, refused) == ([], [job_id])

    @precondition(lambda self: self.state)
    @rule(data=st.data())
    def foreign_outcome_is_refused(self, data: st.DataObject) -> None:
        """An outcome from a token that does not hold the job changes nothing."""
        job_id = data.draw(st.sampled_from(list(self.state)), label="job")
        kind = data.draw(st.sampled_from(list(OutcomeKind)), label="kind")
        jobs, refused = self.run(
            self.store.fetch(self.queue.name, "intruder", [Outcome(job_id, kind, b"1")], 0, 0)
        )
        assert (jobs, refused) == ([], [job_id])

    @precondition(lambda self: any(s in PENDING for s in self.state.values()))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.ids_in(*PENDING)), label="job")
        previous = self.run(self.queue.cancel(job_id))
        assert previous is self.state[job_id]
        self.unlink_ready(job_id)
        self.state[job_id] = F
        job = self.run(self.queue.get_job(job_id))
        assert job is not None
        assert job.failed_reason == "cancelled"

    @precondition(lambda self: any(s is F for s in self.state.values()))
    @rule(data=st.data())
    def retry_failed(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.ids_in(F)), label="job")
        self.run(self.queue.retry_job(job_id))
        self.stalls[job_id] = 0
        self.made[job_id] = 0
        self.make_ready(job_id)

    # ---- invariants -------------------------------------------------------------
    @invariant()
    def store_matches_model(self) -> None:
        """Counts per state, every job's state / attempts / stalls, and the take order
        of the ready jobs all agree with the model."""

        async def observe() -> tuple[Any, ...]:
            counts = await self.store.counts(self.queue.name)
            waiting = await self.queue.list_jobs(W, 0, 1000, desc=False)
            prioritized = await self.queue.list_jobs(P, 0, 1000, desc=False)
            jobs = [await self.queue.get_job(i) for i in self.state]
            return counts, waiting, prioritized, jobs

        counts, waiting, prioritized, jobs = self.run(observe())

        expected_counts = dict.fromkeys((W, P, D, A, C, F), 0)
        for s in self.state.values():
            expected_counts[s] += 1
        assert {s: counts[s] for s in expected_counts} == expected_counts
        assert not any(n for s, n in counts.items() if s not in expected_counts)

        actual = {
            i: None if j is None else (j.state, j.attempts_made, j.stalled_count)
            for i, j in zip(self.state, jobs, strict=True)
        }
        expected = {i: (s, self.made[i], self.stalls[i]) for i, s in self.state.items()}
        assert actual == expected
        assert self.held == set(self.ids_in(A))

        assert [j.id for j in waiting] == self.waiting
        assert [j.id for j in prioritized] == [e[2] for e in self.prioritized]


class RedisMachine(StoreMachine):
    def open_store(self) -> Store:
        self.prefix = f"whtest-sm-{uuid.uuid4().hex[:10]}"
        return RedisStore(REDIS_URL, prefix=self.prefix, clock=self.clock)

    def discard_store(self) -> None:
        delete_prefix(self.prefix)


class SqliteMachine(StoreMachine):
    def open_store(self) -> Store:
        self.folder = tempfile.mkdtemp(prefix="whtest-sm-")
        return SqliteStore(f"{self.folder}/workhorse.db", clock=self.clock)

    def discard_store(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.mark.parametrize("machine", [RedisMachine, SqliteMachine], ids=["redis", "sqlite"])
def test_store_state_machine(machine: type[StoreMachine]) -> None:
    if machine is RedisMachine:
        require_redis()
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
