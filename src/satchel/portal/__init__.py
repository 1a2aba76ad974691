"""The portal: the web pages of seeds/000, served by the same app as the API.

``install_portal(app)`` adds its pages, its static files (no CDN: every asset comes from
this server), the redirect to the login page, and the error pages people see instead of
the API's JSON.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from satchel.portal.pages import STATIC_DIR
from satchel.portal.routes import error_pages, login_redirect, router
from satchel.portal.sessions import LoginRequiredError

__all__ = ["install_portal"]


def install_portal(app: FastAPI) -> None:
    """Serve the portal from ``app``'s root, next to the API."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(LoginRequiredError, login_redirect)
    app.state.error_pages = error_pages
