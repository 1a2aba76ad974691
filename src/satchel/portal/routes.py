"""The portal's pages (seeds/000): log in, the artifacts list, details, downloads, runs.

Routes are thin, as the API's are: parse, call the services the API uses (the same access
checks: ``find_readable``, ``find_managed``, the reader in every query), render. They are
left out of the OpenAPI document, which describes the API alone.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Annotated, Any, Final
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from satchel.errors import NotFoundError, PermissionDeniedError, SatchelError, ValidationError
from satchel.index.base import RunQuery
from satchel.models import Artifact, ArtifactFile, Run, utcnow
from satchel.portal.listing import (
    PAGE,
    Filters,
    list_page,
    parse_filters,
    run_page,
    visible_kinds,
)
from satchel.portal.pages import render
from satchel.portal.previews import image_type, preview_kind, render_preview
from satchel.portal.sessions import (
    CSRF_COOKIE,
    LoginRequiredError,
    Session,
    check_csrf,
    clear_session,
    login_csrf,
    read_session,
    safe_next,
    session_csrf,
    set_login_csrf,
    set_session,
)
from satchel.server.deps import ArtifactIdPath, RunIdPath
from satchel.server.errors import ApiError
from satchel.server.services.access import find_managed, find_readable, find_visible_run
from satchel.server.services.artifacts import file_of
from satchel.server.services.cursors import run_cursor, run_position
from satchel.server.services.links import Link, base_url, make_link, sign_link
from satchel.server.signing import LINK_EXPIRED
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor, Grant

__all__ = ["error_pages", "login_redirect", "router"]

router = APIRouter(include_in_schema=False)

#: Files listed on a details page at most (with their links); the API lists them all.
FILES_SHOWN: Final = 1000
_FORM_MAX: Final = 16 * 1024


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.satchel
    return state


def _session(request: Request) -> Session:
    request.state.started = time.perf_counter()  # for the page's Server-Timing header
    found = read_session(request)
    request.state.session = found  # an error page of this request frames it without a lookup
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequiredError(target)
    return found


SessionDep = Annotated[Session, Depends(_session)]


def _common(request: Request, session: Session, **extra: Any) -> dict[str, Any]:
    """What every page's frame shows: who is logged in, their org, the logout form."""
    state = _state(request)
    org = state.tenancy.get_org(session.actor.org_id)
    return {
        "me": session.actor,
        "org_name": org.name if org is not None else session.actor.org_id,
        "csrf": session_csrf(request, session),
        "q": "",
        **extra,
    }


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _FORM_MAX:
        raise ValidationError("the form is too large")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}


# -- log in, log out --------------------------------------------------------------------


def _login_page(
    request: Request,
    next_path: str,
    *,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    token = login_csrf(request)
    response = render(
        request,
        "login.html",
        {"next": next_path, "email": email, "error": error, "csrf": token},
        status=status,
    )
    set_login_csrf(request, response, token)
    return response


@router.get("/login")
def login_form(
    request: Request, next: Annotated[str | None, Query(max_length=2048)] = None
) -> Response:
    if read_session(request) is not None:
        return _see_other(safe_next(next))
    return _login_page(request, safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    next_path = safe_next(form.get("next"))
    email = form.get("email", "").strip()
    if not check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf")):
        return _login_page(
            request,
            next_path,
            email=email,
            error="Your login form expired. Please try again.",
            status=403,
        )
    state = _state(request)
    keys = state.throttle.keys(email, request.client.host if request.client else None)
    try:
        state.throttle.check(keys)
    except ApiError as exc:
        return _login_page(request, next_path, email=email, error=exc.message, status=429)
    user = state.tenancy.check_password(email, form.get("password", "")) if email else None
    if user is None:
        state.throttle.failed(keys)
        return _login_page(
            request, next_path, email=email, error="Wrong email or password.", status=401
        )
    state.throttle.succeeded(email)
    expires = utcnow() + timedelta(seconds=state.settings.login_ttl)
    token, secret = state.tenancy.create_token(user.user_id, name="portal", expires_at=expires)
    response = _see_other(next_path)
    set_session(request, response, token.token_id, secret)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    session = read_session(request)
    response = _see_other("/login")
    if session is not None:
        if not check_csrf(session_csrf(request, session), form.get("csrf")):
            raise PermissionDeniedError("the logout form is not valid; reload the page")
        state = _state(request)
        token = state.tenancy.get_token(session.token_id)
        if token is not None and token.user_id == session.actor.user_id:
            state.tenancy.revoke_token(token.token_id)
    clear_session(response)
    return response


# -- the artifacts list -----------------------------------------------------------------


@router.get("/")
def home(session: SessionDep) -> Response:
    return _see_other("/artifacts")


def _people(state: ServerState, artifacts: list[Artifact]) -> dict[str, str]:
    """Each creator's email, for the "Created by" column."""
    found: dict[str, str] = {}
    for user_id in {a.user_id for a in artifacts if a.user_id}:
        user = state.tenancy.get_user(user_id)
        found[user_id] = user.email if user is not None else user_id
    return found


@router.get("/artifacts")
def artifacts_page(
    *,
    request: Request,
    session: SessionDep,
    origin: Annotated[list[str] | None, Query(max_length=16)] = None,
    kind: Annotated[list[str] | None, Query(max_length=255)] = None,
    q: Annotated[str | None, Query(max_length=1000)] = None,
    after: Annotated[str | None, Query(max_length=1024)] = None,
    page: Annotated[int, Query(ge=1, le=100)] = 1,
) -> Response:
    state = _state(request)
    filters = parse_filters(origin or [], (kind or [])[:64], q)
    found = list_page(state, session.actor, filters, after=after, page=page)
    context = _common(
        request,
        session,
        filters=filters,
        listing=found,
        people=_people(state, found.items),
        kinds=visible_kinds(state, session.actor, filters.kinds),
        first_url=filters.url() if (after or page > 1) else None,
        unsearch_url=Filters(origins=filters.origins, kinds=filters.kinds).url(),
        q=filters.q or "",
        page_size=PAGE,
    )
    return render(request, "artifacts.html", context)


# -- one artifact -----------------------------------------------------------------------


def _links(
    request: Request, state: ServerState, actor: Actor, artifact: Artifact
) -> dict[str, Link]:
    """A signed link for each completed file shown (none while the artifact is pending)."""
    if artifact.status != "completed":
        return {}
    lifetime = state.settings.portal_link_lifetime
    base = base_url(request)
    return {
        f.path: sign_link(state, actor, artifact.artifact_id, f, lifetime=lifetime, base_url=base)
        for f in artifact.files[:FILES_SHOWN]
        if f.status == "completed"
    }


def _grants(state: ServerState, actor: Actor, artifact: Artifact) -> list[dict[str, Any]] | None:
    """The artifact's grants for its manager; None for anyone else (read-only here)."""
    try:
        find_managed(state, actor, artifact.artifact_id)
    except PermissionDeniedError:
        return None
    shown = []
    for grant in state.tenancy.list_grants(artifact.artifact_id):
        shown.append({"grant": grant, "to": _recipient(state, grant)})
    return shown


def _recipient(state: ServerState, grant: Grant) -> str:
    if grant.recipient_email is not None:
        return grant.recipient_email
    org = state.tenancy.get_org(grant.recipient_org_id or "")
    return f"organisation {org.name if org is not None else grant.recipient_org_id}"


def _visible_run(state: ServerState, actor: Actor, run_id: str | None) -> Run | None:
    if run_id is None:
        return None
    try:
        return find_visible_run(state, actor, run_id)
    except NotFoundError:
        return None


@router.get("/artifacts/{artifact_id}")
def artifact_page(request: Request, session: SessionDep, artifact_id: ArtifactIdPath) -> Response:
    state = _state(request)
    actor = session.actor
    artifact = find_readable(state, actor, artifact_id)
    creator = state.tenancy.get_user(artifact.user_id or "") if artifact.user_id else None
    org = state.tenancy.get_org(artifact.org_id or "") if artifact.org_id else None
    files = artifact.files[:FILES_SHOWN]
    context = _common(
        request,
        session,
        artifact=artifact,
        creator=creator,
        creator_org=org,
        files=files,
        hidden_files=len(artifact.files) - len(files),
        links=_links(request, state, actor, artifact),
        previews=[(f, k) for f in files if (k := preview_kind(f)) is not None][:12],
        grants=_grants(state, actor, artifact),
        run=_visible_run(state, actor, artifact.run_id),
        shared=artifact.org_id != actor.org_id,
        now=int(time.time()),
    )
    return render(request, "artifact.html", context)


def _readable_file(
    state: ServerState, actor: Actor, artifact_id: str, path: str
) -> tuple[Artifact, ArtifactFile]:
    artifact = find_readable(state, actor, artifact_id)
    return artifact, file_of(artifact, path)


@router.get("/artifacts/{artifact_id}/download/{path:path}")
def download(
    request: Request, session: SessionDep, artifact_id: ArtifactIdPath, path: str
) -> Response:
    """A fresh signed link to the file, followed at once: the browser downloads it."""
    state = _state(request)
    artifact = find_readable(state, session.actor, artifact_id)
    lifetime = state.settings.portal_link_lifetime
    link = make_link(
        state, session.actor, artifact, path, expires_in=lifetime, base_url=base_url(request)
    )
    return _see_other(link.url)


# -- previews, on a sandboxed path ------------------------------------------------------

_SANDBOXED: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}


@router.get("/preview/{artifact_id}/{path:path}")
def preview(
    request: Request, session: SessionDep, artifact_id: ArtifactIdPath, path: str
) -> Response:
    """A file's preview: escaped text in a script-less sandboxed document, or an image."""
    state = _state(request)
    artifact, file = _readable_file(state, session.actor, artifact_id, path)
    kind = preview_kind(file)
    if kind is None:
        raise NotFoundError(f"the file {path!r} has no preview")
    data = state.store.read_file(file, what=f"artifact {artifact.artifact_id} file {path!r}")
    if kind == "image":
        mime = image_type(data)
        if mime is None:
            raise NotFoundError(f"the file {path!r} is not an image the portal shows")
        headers = {
            **_SANDBOXED,
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "Content-Disposition": "inline",
        }
        return Response(data, media_type=mime, headers=headers)
    nonce = secrets.token_urlsafe(16)
    headers = {
        **_SANDBOXED,
        "Content-Security-Policy": (
            f"sandbox; default-src 'none'; style-src 'nonce-{nonce}'; frame-ancestors 'self'"
        ),
    }
    return render(
        request,
        "preview.html",
        {"file": file, "preview": render_preview(kind, data), "nonce": nonce},
        headers=headers,
    )


# -- runs -------------------------------------------------------------------------------


@router.get("/runs")
def runs_page(
    request: Request,
    session: SessionDep,
    after: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """Runs of the caller's org, newest first, each with its experiments (child runs)."""
    state = _state(request)
    reader = session.actor.reader
    top = state.store.list_runs(
        RunQuery(
            equals={"parent_run_id": None},
            limit=PAGE + 1,
            after=None if after is None else run_position(after),
            reader=reader,
        )
    )
    more = len(top) > PAGE
    top = top[:PAGE]
    experiments = {
        run.run_id: state.store.list_runs(
            RunQuery(equals={"parent_run_id": run.run_id}, limit=20, reader=reader)
        )
        for run in top
    }
    context = _common(
        request,
        session,
        runs=top,
        experiments=experiments,
        next_url=f"/runs?{urlencode({'after': run_cursor(top[-1])})}" if more else None,
        first_url="/runs" if after else None,
    )
    return render(request, "runs.html", context)


@router.get("/runs/{run_id}")
def run_detail(
    request: Request,
    session: SessionDep,
    run_id: RunIdPath,
    after: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """One run: its status, experiments, and the artifacts the caller may read."""
    state = _state(request)
    actor = session.actor
    run = find_visible_run(state, actor, run_id)
    parent = _visible_run(state, actor, run.parent_run_id)
    children = state.store.list_runs(
        RunQuery(equals={"parent_run_id": run_id}, limit=200, reader=actor.reader)
    )
    found = run_page(state, actor, run_id, after=after, base=f"/runs/{quote(run_id, safe='')}")
    context = _common(
        request,
        session,
        run=run,
        parent=parent,
        children=children,
        listing=found,
        people=_people(state, found.items),
        first_url=f"/runs/{quote(run_id, safe='')}" if after else None,
    )
    return render(request, "run.html", context)


# -- errors as pages ---------------------------------------------------------------------

_TITLES: Final = {
    "not_found": "Not found",
    "forbidden": "Not allowed",
    "conflict": "Not available yet",
    "rate_limited": "Too many attempts",
    "too_large": "Too large",
    "unauthenticated": "Please log in",
}


def _title(path: str, code: str, message: str) -> tuple[str, str]:
    """A page's heading and its explanation for people."""
    if path.startswith("/api/v1/links/"):
        if message == LINK_EXPIRED:
            return "This link has expired", (
                "Download links work for a limited time. Open the artifact in the portal for "
                "a new link, or ask the person who sent this one for another."
            )
        if code == "forbidden":
            return "This link is not valid", (
                "The link was changed or cut short. Ask the person who sent it for a new one."
            )
        if code == "not_found":
            return "This link no longer works", (
                "The artifact was deleted, or its owner stopped sharing it with the person "
                "who made the link."
            )
    if code == "not_found" and path.startswith("/artifacts/"):
        return "Artifact not found", (
            "No artifact with this id exists, or you may not see it. If it was shared with "
            "you, check that you are logged in with the account it was shared with."
        )
    if code == "not_found" and path.startswith("/runs/"):
        return "Run not found", "No run with this id exists in your organisation."
    if code.startswith("invalid") or code == "validation_error":
        return "That request is not valid", message
    return _TITLES.get(code, "Something went wrong"), message


def error_pages(request: Request, code: str, message: str, status: int) -> Response | None:
    """The portal's page for an error, for the portal's paths and for links opened in a
    browser; None (the API's JSON) for the API and its clients."""
    path = request.url.path
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    if path.startswith("/api/"):
        wants_page = "text/html" in request.headers.get("accept", "")
        if not (path.startswith("/api/v1/links/") and wants_page):
            return None
    elif path in ("/docs", "/openapi.json") or path.startswith("/static/"):
        return None
    title, text = _title(path, code, message)
    session: Session | None = getattr(request.state, "session", None)
    if session is None and not hasattr(request.state, "session"):
        try:
            session = read_session(request)  # a route without the portal's session: a link
        except SatchelError:
            session = None
    context: dict[str, Any] = {"title": title, "text": text, "code": code, "status": status}
    if session is not None:
        context = _common(request, session, **context)
    return render(request, "error.html", context, status=status)


def login_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequiredError)
    return _see_other(f"/login?{urlencode({'next': exc.next_path})}")
