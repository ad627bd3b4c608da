"""A Workhorse application whose ``pool`` queue runs in a process pool, for tests
that run its worker as a real process (configured like :mod:`tests.apps.crash_app`).

Kept apart from :mod:`tests.apps.pool_app` so that pool processes, which import the
handler's module, do not open a store of their own."""

from __future__ import annotations

import os

from tests.apps.pool_app import pooled
from workhorse import RedisStore, Workhorse
from workhorse.store import connect

_URL = os.environ.get("WH_TEST_STORE_URL")
app = Workhorse(
    connect(_URL)
    if _URL
    else RedisStore(
        os.environ.get("WH_TEST_URL", "redis://127.0.0.1:6379/0"),
        prefix=os.environ.get("WH_TEST_PREFIX", "whtest-apps"),
    )
)
app.processor("pool", processes=1, timeout_grace=0.5)(pooled)
