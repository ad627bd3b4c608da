"""Every Redis key name Workhorse uses is built here.

Key schema (``P`` is the store prefix, default ``wh``; ``{q}`` is the queue name in
braces, a Redis Cluster hash tag, so all keys of one queue live in one slot; adding a
flow and firing a schedule span several slots in one step, so those need the queues
involved on one Redis node)::

    P:queues              set    names of every queue that received a job (not tagged)
    P:{q}:meta            hash   paused "1", fifo_first "1", pseq (priority FIFO counter),
                                 limits (LIMIT_FIELDS of store/base.py, integers; absent:
                                 no limit)
    P:{q}:id              string counter for generated job ids
    P:{q}:wait            list   unprioritized ready jobs; LPUSH in, RPOP out (FIFO)
    P:{q}:prio            zset   prioritized ready jobs; score priority * 2^32 + pseq
    P:{q}:delayed         zset   delayed jobs; score = due time (ms)
    P:{q}:active          zset   jobs held by a worker; score = lock expiry (ms).  The
                                 lock token is the job hash's ``token`` field; a job
                                 whose score is in the past has stalled.
    P:{q}:completed       zset   score = finish time (ms)
    P:{q}:failed          zset   score = finish time (ms)
    P:{q}:dead            zset   dead letters: jobs failed for good (attempts used up,
                                 unrecoverable, stalled too often; not cancelled ones),
                                 score = time dead-lettered (ms).  A subset of
                                 ``failed``: the job hash stays, state "failed", field
                                 ``dead`` = that time.  Not exempt from the job's own
                                 ``remove_on_fail`` (the producer's explicit choice):
                                 a dead letter that retention deletes gets a
                                 ``removed`` event with reason "retention".  At most
                                 DEAD_LETTERS_KEPT: past that the oldest leave the set
                                 (they stay failed jobs).
    P:{q}:events          stream event per transition, MAXLEN ~ events_maxlen
    P:{q}:marker          zset   wake-up marker for blocked workers (BZPOPMIN): member
                                 "0" score 0 = jobs ready; member "d" = next due time
                                 (of a delayed job, or of a full rate window freeing)
    P:{q}:rate            zset   starts inside the queue's rate window (sliding-window
                                 log): member "<ms>:<id>", score = start time (ms);
                                 trimmed by each take, expires with the window
    P:{q}:gactive         hash   group -> jobs of that group active and counted against
                                 its concurrency (the job hash's ``gc`` field = group)
    P:{q}:gr:<group>      zset   the group's rate window, like ``rate``
    P:{q}:wchildren       zset   parents waiting for their children; score = added (ms)
    P:{q}:outbox          list   notices for other jobs of this queue's flows: JSON [id,
                                 queue, other id, fail parent "1"/"0", kind, value].
                                 Kind "c"|"f": job <id> finished (value: result JSON |
                                 reason), for its parent; "x"|"k"|"r": an admin step on
                                 parent <id> asks its child to be removed | cancelled |
                                 re-run (value: the failure recorded).  Pushed in the
                                 step itself, deleted once delivered (flow_child.lua)
    P:{q}:pend:<id>       set    refs ("queue:id") of the children job <id> still waits for
    P:{q}:cv:<id>         hash   ref -> result JSON of its completed children
    P:{q}:cf:<id>         hash   ref -> failure reason of its children failed for good
    P:{q}:j:<id>          hash   the job's fields (see workhorse.job.Job.from_fields);
                                 also ``grp`` (its group), ``gc`` (counted against the
                                 group's concurrency), ``pq`` / ``pid`` / ``fpf`` (a
                                 flow child: its parent, fail the parent on failure),
                                 ``rdy`` (when it last became ready, ms: the start of
                                 the wait that the ``active`` event reports)
    P:{q}:l:<id>          list   the job's log lines
    P:{q}:h:<id>          list   the job's failed attempts (JSON), newest first

Schedules (not of one queue; hash tag ``{schedules}``)::

    P:{schedules}:spec    hash   schedule key -> spec JSON (see workhorse.schedule)
    P:{schedules}:next    zset   schedule key, score = next tick (ms)

Shared values (store-wide; hash tag ``{values}``; see Store.put_value)::

    P:{values}:data       hash   key -> value
    P:{values}:exp        zset   key, score = when it expires (ms); expired keys are
                                 dropped by the next put

Workers (store-wide; hash tag ``{workers}``)::

    P:{workers}:info      hash   worker id -> WorkerInfo JSON (store/base.py)
    P:{workers}:alive     zset   worker id, score = when its heartbeat expires (ms)

Scripts receive :attr:`QueueKeys.script_keys` as ``KEYS`` in that fixed order and
derive per-job keys from the ``j:``/``l:``/``h:`` prefixes inside the script.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workhorse.store.base import check_queue_name

#: Most dead letters a queue keeps (the Lua prelude's DEAD_MAX, the SQLite store's too).
DEAD_LETTERS_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The key names of one queue."""

    base: str
    _script_keys: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def of(cls, prefix: str, queue: str) -> QueueKeys:
        check_queue_name(queue)
        return cls(f"{prefix}:{{{queue}}}:")

    @property
    def meta(self) -> str:
        return self.base + "meta"

    @property
    def wait(self) -> str:
        return self.base + "wait"

    @property
    def prio(self) -> str:
        return self.base + "prio"

    @property
    def delayed(self) -> str:
        return self.base + "delayed"

    @property
    def active(self) -> str:
        return self.base + "active"

    @property
    def completed(self) -> str:
        return self.base + "completed"

    @property
    def failed(self) -> str:
        return self.base + "failed"

    @property
    def events(self) -> str:
        return self.base + "events"

    @property
    def marker(self) -> str:
        return self.base + "marker"

    @property
    def wchildren(self) -> str:
        return self.base + "wchildren"

    @property
    def outbox(self) -> str:
        return self.base + "outbox"

    def pending_children(self, job_id: str) -> str:
        return f"{self.base}pend:{job_id}"

    def children_values(self, job_id: str) -> str:
        return f"{self.base}cv:{job_id}"

    def children_failures(self, job_id: str) -> str:
        return f"{self.base}cf:{job_id}"

    @property
    def dead(self) -> str:
        return self.base + "dead"

    def job(self, job_id: str) -> str:
        return f"{self.base}j:{job_id}"

    def logs(self, job_id: str) -> str:
        return f"{self.base}l:{job_id}"

    def history(self, job_id: str) -> str:
        return f"{self.base}h:{job_id}"

    @property
    def script_keys(self) -> list[bytes]:
        """KEYS for every script, in the order the Lua prelude names them (bytes, so
        the client sends them without encoding them again on every call)."""
        return self._script_keys

    def __post_init__(self) -> None:
        b = self.base
        names = [
            b + "meta",
            b + "id",
            b + "wait",
            b + "prio",
            b + "delayed",
            b + "active",
            b + "completed",
            b + "failed",
            b + "events",
            b + "marker",
            b,
            b + "dead",
            b + "rate",
            b + "gactive",
            b + "wchildren",
            b + "outbox",
        ]
        object.__setattr__(self, "_script_keys", [n.encode() for n in names])


def queues_set(prefix: str) -> str:
    return f"{prefix}:queues"


def schedule_keys(prefix: str) -> tuple[str, str]:
    """The schedules' spec hash and next-tick zset."""
    return f"{prefix}:{{schedules}}:spec", f"{prefix}:{{schedules}}:next"


def worker_keys(prefix: str) -> tuple[str, str]:
    """The worker registry's info hash and heartbeat-expiry zset."""
    return f"{prefix}:{{workers}}:info", f"{prefix}:{{workers}}:alive"


def value_keys(prefix: str) -> tuple[str, str]:
    """The shared values' hash and expiry zset."""
    return f"{prefix}:{{values}}:data", f"{prefix}:{{values}}:exp"
