"""``satchel usage``: artifacts, bytes, deduplicated bytes and pins per org and user."""

from __future__ import annotations

from typing import Annotated

import typer

from satchel.cli._common import IndexOption, ServerOption, StoreOption, TokenOption, connected
from satchel.cli._output import JsonOption, emit_json, human_bytes, table
from satchel.usage import OrgUsage, Usage, UsageReport, UserUsage

__all__ = ["usage"]

_FIGURES = ("ARTIFACTS", "PENDING", "FILES", "SIZE", "AFTER_DEDUP", "PINNED", "PINNED_SIZE")


def _cells(u: Usage) -> list[str]:
    return [
        f"{u.artifacts:,}",
        f"{u.pending:,}",
        f"{u.files:,}",
        human_bytes(u.bytes),
        human_bytes(u.dedup_bytes),
        f"{u.pinned:,}",
        human_bytes(u.pinned_bytes),
    ]


def _org_label(org: OrgUsage) -> str:
    return org.name or org.org_id or "-"


def _user_label(user: UserUsage) -> str:
    return user.email or user.user_id or "-"


def rows(report: UsageReport, *, by_user: bool) -> list[list[str]]:
    """The table's rows: each org (with its users first when ``by_user``), then the total."""
    found: list[list[str]] = []
    for org in report.orgs:
        if by_user:
            found.extend([_org_label(org), _user_label(u), *_cells(u.figures)] for u in org.users)
            found.append([_org_label(org), "(all users)", *_cells(org.figures)])
        else:
            found.append([_org_label(org), *_cells(org.figures)])
    if report.total is not None:
        found.append(["TOTAL", *([""] if by_user else []), *_cells(report.total)])
    return found


def usage(
    *,
    by_user: Annotated[
        bool, typer.Option("--by-user", help="One row per user of each org too.")
    ] = False,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Show artifacts, bytes stored, bytes after dedup and pins per org (and user).

    Embedded: every org and user of the store, and the store's total. Against a server: your
    org's figures, with every user's row for an org admin and your own for a member.

    Example: satchel usage --by-user
    """
    with connected(server, token, store, index) as s:
        report = s.ops.usage()
    if as_json:
        emit_json(report.to_dict())
        return
    header = ("ORG", "USER", *_FIGURES) if by_user else ("ORG", *_FIGURES)
    table(header, rows(report, by_user=by_user))
