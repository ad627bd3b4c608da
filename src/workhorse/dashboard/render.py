"""Rendering: the jinja2 environment of the dashboard's templates and the filters
they use (times, durations, JSON).

Times are shown in UTC with their date, and as a relative time ("3 min ago") that
the page's script keeps current; both come from the ``<time>`` element's
``data-ts`` (epoch ms), so the server's and the browser's clocks never disagree on
the zone."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from workhorse.dashboard.session import BASE


def absolute(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(ms: int, now_ms: int) -> str:
    """``3 min ago`` / ``in 2 h`` (what the page's script also computes)."""
    delta = (ms - now_ms) / 1000
    span = abs(delta)
    if span < 5:
        return "just now"
    text = duration_text(span * 1000, coarse=True)
    return f"in {text}" if delta > 0 else f"{text} ago"


def duration_text(ms: float | None, coarse: bool = False) -> str:
    """``415 ms``, ``11 s``, ``3 min 2 s``, ``5 h 3 min``, ``2 d 4 h``."""
    if ms is None:
        return ""
    if ms < 1000 and not coarse:
        return f"{round(ms)} ms"
    s = ms / 1000
    units = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))
    for i, (size, unit) in enumerate(units):
        if s >= size or size == 1:
            major = int(s // size)
            rest = s - major * size
            if i + 1 < len(units) and not coarse:
                minor_size, minor_unit = units[i + 1]
                minor = int(rest // minor_size)
                if minor:
                    return f"{major} {unit} {minor} {minor_unit}"
            return f"{major} {unit}"
    return f"{round(s)} s"


def time_tag(ms: int | None, mode: str = "rel") -> Markup:
    """A ``<time>`` element; ``mode`` "rel" shows the relative time (the absolute one
    in its title), "abs" shows the absolute time followed by the relative one."""
    if not ms:
        return Markup('<span class="muted">—</span>')
    iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    rel = relative(ms, int(time.time() * 1000))
    full = absolute(ms)
    if mode == "abs":
        return Markup(
            f'<time datetime="{iso}" data-ts="{ms}" data-mode="abs">{escape(full)} '
            f'<span class="rel">({escape(rel)})</span></time>'
        )
    return Markup(
        f'<time datetime="{iso}" data-ts="{ms}" data-mode="rel" title="{escape(full)}">'
        f"{escape(rel)}</time>"
    )


def pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def compact(value: Any, limit: int = 120) -> str:
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_script(value: Any) -> Markup:
    """JSON to embed in ``<script type="application/json">`` (no ``</script>`` inside)."""
    text = orjson.dumps(value).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def href(path: str, params: Mapping[str, Any] | None = None, **more: Any) -> str:
    """``BASE + path`` with the non-empty query parameters."""
    merged = {**(params or {}), **more}
    query = {k: v for k, v in merged.items() if v not in (None, "", False)}
    url = BASE + path
    return f"{url}?{urlencode(query)}" if query else url


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} %" if value < 10 else f"{value:.0f} %"


def make_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("workhorse.dashboard", "templates"),
        autoescape=select_autoescape(("html",)),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        {
            "ts": time_tag,
            "absolute": absolute,
            "duration": duration_text,
            "pretty": pretty,
            "compact": compact,
            "percent": percent,
        }
    )
    env.globals.update({"href": href, "BASE": BASE})
    return env


#: The files under static/ that are served, with their media types.
ASSETS = MappingProxyType(
    {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}
)


class Renderer:
    """Renders a template into an HTML response; serves the static files, whose
    URLs carry a hash of their content so browsers may cache them for good."""

    def __init__(self) -> None:
        self.env = make_environment()
        static = resources.files("workhorse.dashboard") / "static"
        self._assets = {name: (static / name).read_bytes() for name in ASSETS}
        versions = {
            name: hashlib.sha256(body).hexdigest()[:12] for name, body in self._assets.items()
        }
        self.env.globals["asset"] = lambda name: f"{BASE}/static/{name}?v={versions[name]}"

    def asset(self, name: str) -> tuple[bytes, str] | None:
        body = self._assets.get(name)
        return None if body is None else (body, ASSETS[name])

    def html(self, template: str, context: Mapping[str, Any], status: int = 200) -> HTMLResponse:
        body = self.env.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)


#: Our pages load only our own script and style, and may not be framed.
_SECURITY_HEADERS = MappingProxyType(
    {
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
)
