"""``satchel serve``: the HTTP server on the configured store (the ``server`` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from satchel.cli._errors import reported
from satchel.cli._options import IndexOption, StoreOption
from satchel.config import Settings
from satchel.errors import MissingDependencyError

__all__ = ["serve"]


def serve(
    *,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    store: StoreOption = None,
    index: IndexOption = None,
    admin_email: Annotated[
        str, typer.Option("--admin-email", help="The first admin's email (first start only).")
    ] = "admin@localhost",
    org: Annotated[
        str, typer.Option("--org", help="The first organisation's name (first start only).")
    ] = "default",
) -> None:
    """Run the HTTP server; on first start, create an org and its admin and print a login."""
    with reported():
        try:
            import uvicorn  # noqa: PLC0415

            from satchel.server import ServerSettings, create_app  # noqa: PLC0415
            from satchel.server.bootstrap import first_start  # noqa: PLC0415
            from satchel.server.state import ServerState  # noqa: PLC0415
        except ImportError as exc:
            raise MissingDependencyError(
                f"satchel serve needs the server extra: pip install 'satchel[server]' ({exc})"
            ) from exc
        settings = ServerSettings.load(store=Settings.load(store=store, index=index))
        state = ServerState.open(settings)
        try:
            first = first_start(state.tenancy, email=admin_email, org_name=org)
            url = f"http://{host}:{port}"
            typer.echo(f"satchel server on {url}")
            typer.echo(f"  portal: {url}/  (log in in a browser)")
            typer.echo(f"  store: {state.store.blobs.url}")
            typer.echo(f"  index: {state.store.index.url}")
            if first is not None:
                typer.echo("")
                typer.echo(
                    f"First start: created the organisation {first.org.name!r} and its admin."
                )
                typer.echo(f"Log in at {url}/ with (shown this once, keep them):")
                typer.echo(f"  email:    {first.user.email}")
                typer.echo(f"  password: {first.password}")
                typer.echo(f"  token:    {first.token}")
                typer.echo(f'  curl -H "Authorization: Bearer {first.token}" {url}/api/v1/me')
                typer.echo("")
            uvicorn.run(create_app(settings, state=state), host=host, port=port, log_level="info")
        finally:
            state.close()
