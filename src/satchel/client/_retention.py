"""Retention policies over a satchel server's API (``/api/v1/retention``, docs/api.md):
the calls the CLI makes for ``satchel retention`` with ``--server``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from satchel.client._api import Api
from satchel.models import parse_time
from satchel.retention import Expiry, Preview, RetentionPolicy

__all__ = ["add_policy", "list_policies", "preview_policy", "remove_policy"]


def list_policies(api: Api) -> list[RetentionPolicy]:
    """The policies of the caller's org, oldest first."""
    answer = api.json("GET", "/retention", retry=True)
    return [RetentionPolicy.from_dict(d) for d in answer["items"]]


def add_policy(api: Api, spec: dict[str, Any]) -> RetentionPolicy:
    """Create a policy of the caller's org from ``spec`` (the ``POST`` body's fields)."""
    body = {k: v for k, v in spec.items() if v is not None}
    return RetentionPolicy.from_dict(api.json("POST", "/retention", retry=False, json=body))


def remove_policy(api: Api, policy_id: str) -> None:
    api.request("DELETE", f"/retention/{quote(policy_id, safe='')}", retry=True)


def preview_policy(api: Api, policy_id: str, limit: int) -> Preview:
    """The dry run of one policy, as the server sees it now."""
    answer = api.json(
        "GET",
        f"/retention/{quote(policy_id, safe='')}/preview",
        retry=True,
        params={"limit": limit},
    )
    policy = RetentionPolicy.from_dict(answer["policy"])
    return Preview(
        policy=policy,
        as_of=parse_time(answer["as_of"]),
        count=answer["count"],
        items=[Expiry.from_dict(d, policy_id=policy.policy_id) for d in answer["items"]],
    )
