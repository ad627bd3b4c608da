"""The one clock of the engine.

Every timestamp the engine writes (creation, start, lock expiry, delays, retention
cut-offs) comes from :func:`now_ms`.  Stores take a ``clock`` callable defaulting to
it, so a test can hand a store its own clock instead of patching time globally.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
