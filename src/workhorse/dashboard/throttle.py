"""Login throttling: failed logins are counted per key (the login page uses the
client's address and the user name), and a key with too many failures in a window is
locked until that window ends, whatever the password.

Windows are fixed: a key's first failure opens a window of ``window_ms``; once
``max_failures`` failures fall inside it, the key is locked for the rest of it.  An
attempt is counted *before* its credentials are checked and handed back if they are
right (:meth:`LoginThrottle.succeeded`), so guesses sent in parallel cannot slip in
while the first ones are still being checked.

The counters are in the memory of one API process (the dashboard creates one
:class:`LoginThrottle` when the app is built): several API processes each keep their
own, so with N processes behind a load balancer a client gets up to N times the
allowance, and a restart forgets every counter.  Memory is bounded: expired windows
are dropped as new failures come, and beyond ``max_keys`` tracked keys the oldest
window is forgotten.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_failures: int
    window_ms: int


@dataclass(slots=True)
class _Window:
    opened: int
    failures: int


class LoginThrottle:
    """Failure counters per key; every time is a reading of the caller's clock (ms)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._max_keys = max_keys
        # Oldest window first: a window that opens again moves to the end.
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        """How many keys are tracked."""
        return len(self._windows)

    def attempt(self, keys: Sequence[str], limits: Limits, now: int) -> int:
        """Before checking credentials: 0, with the attempt counted as a failure of
        every key, or -- when a key is locked -- how many ms until it opens again,
        with nothing counted (and the credentials must not be checked)."""
        self._prune(now, limits.window_ms)
        wait = max((self._locked_for(key, limits, now) for key in keys), default=0)
        if wait:
            return wait
        for key in keys:
            window = self._windows.get(key)
            if window is None or window.opened + limits.window_ms <= now:
                window = self._windows[key] = _Window(now, 0)
                self._windows.move_to_end(key)
            window.failures += 1
        while len(self._windows) > self._max_keys:
            self._windows.popitem(last=False)
        return 0

    def succeeded(self, keys: Sequence[str], cleared: str) -> None:
        """The credentials of an attempt on ``keys`` were right: take the attempt
        back, and forget every failure of ``cleared`` (the user who logged in)."""
        for key in keys:
            window = self._windows.get(key)
            if window is not None and window.failures > 0:
                window.failures -= 1
        self._windows.pop(cleared, None)

    def _locked_for(self, key: str, limits: Limits, now: int) -> int:
        window = self._windows.get(key)
        if window is None or window.failures < limits.max_failures:
            return 0
        return max(0, window.opened + limits.window_ms - now)

    def _prune(self, now: int, window_ms: int) -> None:
        while self._windows:
            key, window = next(iter(self._windows.items()))
            if window.opened + window_ms > now:
                return
            del self._windows[key]
