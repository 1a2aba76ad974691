"""``satchel login`` and ``satchel logout``: a server's login token in the credentials file.

``login`` exchanges an email and a password for a token (``POST /api/v1/auth/login``) and
keeps it with ``_connect.save_token``; every command with that server then uses it. The
token's id is kept next to it (under ``<server>#token_id``) so that ``logout`` can revoke
it on the server (``DELETE /api/v1/tokens/{id}``) as well as forget it.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from satchel.cli._connect import forget_token, load_token, save_token
from satchel.cli._errors import reported
from satchel.cli._options import ServerOption
from satchel.connect import is_remote
from satchel.errors import ConfigError, SatchelError, ValidationError

__all__ = ["login", "logout"]

_ID_SUFFIX = "#token_id"


def _server(server: str | None) -> str:
    named = server or os.environ.get("SATCHEL_SERVER")
    if not named:
        raise ConfigError("which server? give --server URL or set SATCHEL_SERVER")
    if not is_remote(named):
        raise ConfigError(f"--server must be an http:// or https:// URL: {named!r}")
    return named.rstrip("/")


def _client(url: str, token: str | None = None) -> Any:
    import httpx  # noqa: PLC0415 - the client extra

    from satchel.client._api import API_PREFIX, TIMEOUT, tls  # noqa: PLC0415

    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=url + API_PREFIX, headers=headers, timeout=TIMEOUT, verify=tls())


def _send(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    import httpx  # noqa: PLC0415

    from satchel.client._api import raise_for_error  # noqa: PLC0415
    from satchel.errors import NetworkError  # noqa: PLC0415

    try:
        response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise NetworkError(f"cannot reach the satchel server: {exc}") from exc
    raise_for_error(response)
    return response


def login(
    server: ServerOption = None,
    email: Annotated[str | None, typer.Option("--email", "-e", help="Your email.")] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
) -> None:
    """Log in to a server; its token is kept for every later command with that server.

    Example: satchel login --server https://satchel.example.com --email ada@example.com
    """
    with reported():
        url = _server(server)
        if email is None:
            email = typer.prompt("Email", err=True)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, err=True)
        if not password:
            raise ValidationError("no password given")
        with _client(url) as client:
            answer = _send(
                client, "POST", "/auth/login", json={"email": email, "password": password}
            ).json()
        path = save_token(url, answer["token"])
        save_token(url + _ID_SUFFIX, answer["token_id"])
        user = answer.get("user") or {}
        typer.echo(
            f"logged in to {url} as {user.get('email', email)} "
            f"(token expires {answer.get('expires_at') or 'never'}; kept in {path})"
        )


def logout(server: ServerOption = None) -> None:
    """Forget the token `satchel login` kept for a server, and revoke it there.

    Example: satchel logout --server https://satchel.example.com
    """
    with reported():
        url = _server(server)
        token = load_token(url)
        token_id = load_token(url + _ID_SUFFIX)
        if token is None:
            typer.echo(f"not logged in to {url}")
            return
        revoked = "forgotten here"
        if token_id is not None:
            try:
                with _client(url, token) as client:
                    _send(client, "DELETE", f"/tokens/{token_id}")
                revoked = "revoked on the server"
            except SatchelError as exc:  # expired or already revoked: forget it all the same
                typer.echo(f"note: the server did not revoke it: {exc}", err=True)
        forget_token(url)
        forget_token(url + _ID_SUFFIX)
        typer.echo(f"logged out of {url} (token {revoked})")
