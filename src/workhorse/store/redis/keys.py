"""Every Redis key name Workhorse uses is built here.

Key schema (``P`` is the store prefix, default ``wh``; ``{q}`` is the queue name in
braces, a Redis Cluster hash tag, so all keys of one queue live in one slot)::

    P:queues              set    names of every queue that received a job (not tagged)
    P:{q}:meta            hash   paused "1", fifo_first "1", pseq (priority FIFO counter)
    P:{q}:id              string counter for generated job ids
    P:{q}:wait            list   unprioritized ready jobs; LPUSH in, RPOP out (FIFO)
    P:{q}:prio            zset   prioritized ready jobs; score priority * 2^32 + pseq
    P:{q}:delayed         zset   delayed jobs; score = due time (ms)
    P:{q}:active          zset   jobs held by a worker; score = lock expiry (ms).  The
                                 lock token is the job hash's ``token`` field; a job
                                 whose score is in the past has stalled.
    P:{q}:completed       zset   score = finish time (ms)
    P:{q}:failed          zset   score = finish time (ms)
    P:{q}:events          stream event per transition, MAXLEN ~ events_maxlen
    P:{q}:marker          zset   wake-up marker for blocked workers (BZPOPMIN): member
                                 "0" score 0 = jobs ready; member "d" = next due time
    P:{q}:j:<id>          hash   the job's fields (see workhorse.job.Job.from_fields)
    P:{q}:l:<id>          list   the job's log lines
    P:{q}:h:<id>          list   the job's failed attempts (JSON), newest first

Scripts receive :attr:`QueueKeys.script_keys` as ``KEYS`` in that fixed order and
derive per-job keys from the ``j:``/``l:``/``h:`` prefixes inside the script.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The key names of one queue."""

    base: str
    _script_keys: list[bytes] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def of(cls, prefix: str, queue: str) -> QueueKeys:
        if not queue or any(c in queue for c in "{}\n\r\0 "):
            raise ValueError(
                f"queue name {queue!r} is invalid: use a non-empty name without braces, "
                "spaces or line breaks"
            )
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
        ]
        object.__setattr__(self, "_script_keys", [n.encode() for n in names])


def queues_set(prefix: str) -> str:
    return f"{prefix}:queues"
