"""The ``queue:job:progress`` payload built from stream events."""

from __future__ import annotations

import orjson

from workhorse.api.progress import from_event
from workhorse.store.base import Event


def _completed(result: object) -> Event:
    return Event("1-0", "exports", "completed", "j1", {"result": orjson.dumps(result).decode()})


def test_a_result_of_the_seeds_shape_is_the_event_result() -> None:
    value = {"success": True, "message": "export ready", "data": {"url": "/files/x.csv"}}
    payload = from_event(_completed(value))
    assert payload is not None
    assert payload["result"] == value
    assert payload["result"]["data"]["url"] == "/files/x.csv"


def test_any_other_result_is_wrapped_as_data() -> None:
    payload = from_event(_completed({"rows": 3}))
    assert payload is not None
    assert payload["result"] == {"success": True, "data": {"rows": 3}}
    wrapped = from_event(_completed({"success": "yes"}))  # not a boolean: not the shape
    assert wrapped is not None
    assert wrapped["result"] == {"success": True, "data": {"success": "yes"}}
