"""A store clock that tests move by hand (stores take ``clock=``)."""

from __future__ import annotations

import threading

from workhorse.clock import now_ms


class FakeClock:
    """Starts at the real time; ``advance`` moves it.  ``tick`` ms are added on every
    reading so that successive store operations get distinct, increasing times."""

    def __init__(self, tick: int = 0) -> None:
        self.now = now_ms()
        self.tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self.now += self.tick
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += round(seconds * 1000)
