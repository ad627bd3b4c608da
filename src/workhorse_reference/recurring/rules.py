"""The occurrences of one series: its RRULE evaluated in its owner's time zone.

The rule runs on wall-clock time in the user's zone (``dtstart`` is the series'
start seen in that zone), so a weekly 09:00 session stays at 09:00 local when
daylight saving time begins or ends; each occurrence is then stored in UTC.  As in
RFC 5545, an ``UNTIL`` must then be given in UTC (``...T000000Z``).

The series row is itself the session at its own start, so that start is never
generated again as an occurrence.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

UTC = dt.UTC
# Sessions are at most daily: a finer rule would write thousands of rows per series.
_SUB_DAILY = re.compile(r"FREQ\s*=\s*(SECONDLY|MINUTELY|HOURLY)", re.IGNORECASE)


class RuleError(ValueError):
    """A series that cannot be expanded; the message says why."""


def user_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)"
        ) from None


def occurrences(
    rule: str,
    starts_at: dt.datetime,
    tz: str,
    after: dt.datetime,
    before: dt.datetime,
    limit: int,
) -> list[dt.datetime]:
    """UTC starts of the occurrences in ``[after, before)`` of the series starting at
    ``starts_at`` with ``rule``, evaluated in time zone ``tz``.  :class:`RuleError`
    for an invalid rule or zone, or when more than ``limit`` occurrences fall in the
    window."""
    zone = user_zone(tz)
    if _SUB_DAILY.search(rule):
        raise RuleError(f"rrule {rule!r}: sessions repeat at most daily (FREQ=DAILY or longer)")
    dtstart = starts_at.astimezone(zone)
    try:
        found: list[dt.datetime] = []
        for start in rrulestr(rule, dtstart=dtstart).xafter(after.astimezone(zone), inc=True):
            if start >= before:
                break
            if start == dtstart:
                continue
            if len(found) == limit:
                raise RuleError(
                    f"rrule {rule!r} gives more than {limit} occurrences within the horizon"
                )
            found.append(start.astimezone(UTC))
    except RuleError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise RuleError(f"invalid rrule {rule!r}: {exc}") from None
    return found
