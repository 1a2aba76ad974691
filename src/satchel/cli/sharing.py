"""``satchel artifacts grant|revoke|grants|link``: sharing an artifact with users and
organisations, and signed download links (which only a server serves)."""

from __future__ import annotations

from typing import Annotated

import typer

from satchel.cli._common import IndexOption, ServerOption, StoreOption, TokenOption, connected
from satchel.cli._output import (
    GRANT_HEADER,
    JsonOption,
    emit_json,
    grant_dict,
    grant_rows,
    note,
    table,
)
from satchel.cli.artifacts import IdArg, IdOpt, artifacts_app
from satchel.errors import ValidationError
from satchel.validation import validate_duration

__all__ = ["grant", "grants", "link", "revoke"]


@artifacts_app.command("grant")
def grant(
    *,
    artifact_id: IdOpt,
    email: Annotated[str | None, typer.Option("--email", "-e", help="Share with a user.")] = None,
    org_id: Annotated[
        str | None, typer.Option("--org-id", "-o", help="Share with an organisation.")
    ] = None,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Let a user (by email) or an organisation read an artifact; prints the grant's id.

    Example: satchel artifacts grant -i 01JD3Q5W8YVZ4M2K7N9P0RSTUV -e ann@partner.example
    """
    with connected(server, token, store, index) as s:
        if (email is None) == (org_id is None):
            raise ValidationError("give exactly one of -e EMAIL and -o ORG_ID")
        made = s.ops.grant(artifact_id, email=email, org_id=org_id)
        if as_json:
            emit_json(grant_dict(made))
        else:
            who = made.recipient_email or f"org {made.recipient_org_id}"
            note(f"shared {artifact_id} with {who}")
            typer.echo(made.grant_id)


@artifacts_app.command("revoke")
def revoke(
    *,
    artifact_id: IdOpt,
    grant_id: Annotated[
        str, typer.Option("--grant-id", "-a", help="The grant's id (from `grants`).")
    ],
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Revoke a grant: from the next request on, links made by the grantee included.

    Example: satchel artifacts revoke -i 01JD3Q5W8YVZ4M2K7N9P0RSTUV -a 01JD3R0G2B6C8D0E2F4G6H8J0K
    """
    with connected(server, token, store, index) as s:
        s.ops.revoke(artifact_id, grant_id)
        typer.echo(f"grant {grant_id} revoked")


@artifacts_app.command("grants")
def grants(
    *,
    artifact_id: IdOpt,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """List an artifact's grants (who it is shared with).

    Example: satchel artifacts grants -i 01JD3Q5W8YVZ4M2K7N9P0RSTUV --json
    """
    with connected(server, token, store, index) as s:
        found = s.ops.grants(artifact_id)
        if as_json:
            emit_json([grant_dict(g) for g in found])
        else:
            table(GRANT_HEADER, grant_rows(found))


@artifacts_app.command("link")
def link(
    *,
    artifact_id: IdArg,
    file: Annotated[
        str | None,
        typer.Option("--file", help="The file's path in the artifact (one-file artifacts: none)."),
    ] = None,
    expires: Annotated[
        str, typer.Option("--expires", help="Lifetime: 30m, 24h, 7d... (the server caps it).")
    ] = "24h",
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Make a signed download link, good until it expires (needs a server).

    Example: satchel artifacts link 01JD3Q5W8YVZ4M2K7N9P0RSTUV --expires 2h
    """
    with connected(server, token, store, index) as s:
        seconds = int(validate_duration(expires, what="--expires").total_seconds())
        made = s.ops.link(artifact_id, file, max(seconds, 1))
        if as_json:
            emit_json({"url": made.url, "path": made.path, "expires_at": made.expires_at})
        else:
            typer.echo(made.url)
            note(f"{made.path}: expires {made.expires_at}")
