"""Rendering the portal's pages: one Jinja2 environment (autoescaped), and their headers.

Every page is ``no-store`` (they show signed links and other people's metadata), may not be
framed by another site, sends no referrer (a signed link in a page's URL must not leak to
another origin) and may load scripts, styles and images from this server only: the portal
uses no CDN and no inline script.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from satchel import units

__all__ = ["PAGE_HEADERS", "STATIC_DIR", "human_size", "render", "when"]

HERE: Final = Path(__file__).parent
STATIC_DIR: Final = HERE / "static"

PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def human_size(size: int | None) -> str:
    """A size for a page; nothing when unknown."""
    return "" if size is None else units.human_size(size)


def when(moment: datetime | None) -> str:
    """A time as people read it, in UTC: ``2026-11-24 09:15 UTC``."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["size"] = human_size
_env.filters["when"] = when
_env.filters["iso"] = iso
_env.filters["urlpath"] = lambda value: quote(str(value), safe="/")
_env.filters["urlpart"] = lambda value: quote(str(value), safe="")


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page of ``template`` with the portal's security headers."""
    body = _env.get_template(template).render(request=request, **context)
    answer = HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
    started = getattr(request.state, "started", None)
    if started is not None:
        # From the session check to the rendered page: the server's own time (bench/).
        answer.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
    return answer
