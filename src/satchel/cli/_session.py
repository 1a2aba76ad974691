"""One command's connection: the SDK facade on its target, plus what the facade lacks.

The facade (``satchel.Context(...).sync_artifacts()``) saves, gets, pins and downloads on
both targets. Listings across runs, grants, links, runs and deletes are not facade calls:
``Ops`` does them, over the server's API (``RemoteOps``, ``satchel.client._api.Api`` with
its error mapping) or on the embedded store and its tenancy (``EmbeddedOps``), with the same
answers, so every command has one code path above this module.

Searches go through one ``SearchRequest``: over HTTP it is the body of ``POST /search``;
embedded it becomes the same ``ArtifactQuery`` and runs through the same ``page_search`` as
the server's, without a reader (the embedded SDK is one local actor who may read all).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import quote

from satchel.cli._connect import Target, resolve
from satchel.errors import ConfigError, NotFoundError, ValidationError
from satchel.facade import SyncArtifactFacade
from satchel.facade._paging import MAX_PAGE, SearchPage, window_start
from satchel.facade._search import page_search, search_text, text_query
from satchel.facade._text import TextSearcher
from satchel.hashing import Digest
from satchel.index import ArtifactQuery
from satchel.index.base import Origin, RunQuery, UsageFigures
from satchel.models import Artifact, ArtifactFile, Run, RunStatus, parse_time, utcnow
from satchel.retention import Preview, RetentionPolicy, expired, policies_of
from satchel.storage.layout import blob_key
from satchel.store import ArtifactStore
from satchel.tenancy import tenancy_of
from satchel.tenancy.base import Grant
from satchel.usage import UsageReport, with_people
from satchel.validation import validate_labels, validate_tags, validate_token

__all__ = ["LOCAL_ACTOR", "Link", "Ops", "SearchRequest", "Session", "open_session"]

#: Who grants, embedded (the one local actor has no user id).
LOCAL_ACTOR: Final = "local"


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchRequest:
    """A listing or search: the facade's filters plus the reader's origin filter."""

    query: str | None = None
    mode: str | None = None
    kind: str | None = None
    run_id: str | None = None
    tags: tuple[str, ...] = ()
    labels: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None
    metric_mode: str | None = None
    time_window: str | None = None
    origin: tuple[Origin, ...] = ()
    limit: int = 50
    cursor: str | None = None

    def body(self) -> dict[str, Any]:
        """The ``POST /api/v1/search`` body."""
        equals: dict[str, str] = {}
        if self.kind is not None:
            equals["kind"] = self.kind
        if self.run_id is not None:
            equals["run_id"] = self.run_id
        body: dict[str, Any] = {
            "equals": equals,
            "tags": list(self.tags),
            "labels": self.labels,
            "origin": list(self.origin),
            "limit": self.limit,
            "cursor": self.cursor,
        }
        for name in ("query", "mode", "metric", "metric_mode", "time_window"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    url: str
    path: str
    expires_at: str


class Ops(Protocol):
    """What commands need beyond the facade, on either target."""

    def search(self, request: SearchRequest) -> SearchPage: ...
    def grants(self, artifact_id: str) -> list[Grant]: ...
    def grant(self, artifact_id: str, *, email: str | None, org_id: str | None) -> Grant: ...
    def revoke(self, artifact_id: str, grant_id: str) -> None: ...
    def link(self, artifact_id: str, path: str | None, expires_in: int) -> Link: ...
    def delete_artifact(self, artifact_id: str) -> None: ...
    def runs(self, *, status: RunStatus | None, limit: int | None) -> list[Run]: ...
    def run(self, run_id: str) -> Run: ...
    def delete_run(self, run_id: str) -> None: ...
    def children(self, run_id: str) -> list[Run]: ...
    def run_artifacts(self, run_id: str) -> list[Artifact]: ...
    def location(self) -> str: ...
    def file_location(self, artifact: Artifact, file: ArtifactFile) -> str: ...
    def usage(self) -> UsageReport: ...
    def retention_policies(self) -> list[RetentionPolicy]: ...
    def add_retention(self, spec: dict[str, Any]) -> RetentionPolicy: ...
    def remove_retention(self, policy_id: str) -> None: ...
    def preview_retention(self, policy_id: str, limit: int) -> Preview: ...


def _grant_of(d: dict[str, Any]) -> Grant:
    return Grant(
        grant_id=d["grant_id"],
        artifact_id=d["artifact_id"],
        recipient_email=d.get("email"),
        recipient_org_id=d.get("org_id"),
        granted_by=d["granted_by"],
        created_at=parse_time(d["created_at"]),
    )


def _run_of(d: dict[str, Any]) -> Run:
    return Run(
        run_id=d["run_id"],
        name=d.get("name"),
        parent_run_id=d.get("parent_run_id"),
        org_id=d.get("org_id"),
        user_id=d.get("user_id"),
        session_id=d.get("session_id"),
        status=d["status"],
        started_at=parse_time(d["started_at"]) if d.get("started_at") else None,
        ended_at=parse_time(d["ended_at"]) if d.get("ended_at") else None,
    )


def _q(value: str) -> str:
    return quote(value, safe="")


class RemoteOps:
    """``Ops`` over a satchel server's API."""

    def __init__(self, target: Target) -> None:
        from satchel.client._api import Api  # noqa: PLC0415 - the client extra, remote only

        assert target.server is not None and target.token is not None
        self.server = target.server
        self.api = Api(target.server, target.token)

    def close(self) -> None:
        self.api.close()

    def _pages(self, path: str, params: dict[str, Any], limit: int | None) -> list[Any]:
        items: list[Any] = []
        cursor: str | None = None
        while limit is None or len(items) < limit:
            want = MAX_PAGE if limit is None else min(MAX_PAGE, limit - len(items))
            query = {**params, "limit": want}
            if cursor is not None:
                query["cursor"] = cursor
            page = self.api.json("GET", path, retry=True, params=query)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return items

    def search(self, request: SearchRequest) -> SearchPage:
        answer = self.api.json("POST", "/search", retry=True, json=request.body())
        return SearchPage(
            items=[Artifact.from_dict(d) for d in answer["items"]],
            next_cursor=answer.get("next_cursor"),
        )

    def grants(self, artifact_id: str) -> list[Grant]:
        answer = self.api.json("GET", f"/artifacts/{_q(artifact_id)}/grants", retry=True)
        return [_grant_of(d) for d in answer["items"]]

    def grant(self, artifact_id: str, *, email: str | None, org_id: str | None) -> Grant:
        body = {"email": email} if email is not None else {"org_id": org_id}
        path = f"/artifacts/{_q(artifact_id)}/grants"
        return _grant_of(self.api.json("POST", path, retry=False, json=body))

    def revoke(self, artifact_id: str, grant_id: str) -> None:
        path = f"/artifacts/{_q(artifact_id)}/grants/{_q(grant_id)}"
        self.api.request("DELETE", path, retry=True)

    def link(self, artifact_id: str, path: str | None, expires_in: int) -> Link:
        body: dict[str, Any] = {"expires_in": expires_in}
        if path is not None:
            body["path"] = path
        answer = self.api.json(
            "POST", f"/artifacts/{_q(artifact_id)}/links", retry=False, json=body
        )
        return Link(url=answer["url"], path=answer["path"], expires_at=answer["expires_at"])

    def delete_artifact(self, artifact_id: str) -> None:
        self.api.request("DELETE", f"/artifacts/{_q(artifact_id)}", retry=True)

    def runs(self, *, status: RunStatus | None, limit: int | None) -> list[Run]:
        params = {} if status is None else {"status": status}
        return [_run_of(d) for d in self._pages("/runs", params, limit)]

    def run(self, run_id: str) -> Run:
        return _run_of(self.api.json("GET", f"/runs/{_q(run_id)}", retry=True))

    def delete_run(self, run_id: str) -> None:
        self.api.request("DELETE", f"/runs/{_q(run_id)}", retry=True)

    def children(self, run_id: str) -> list[Run]:
        found = self._pages("/runs", {"parent_run_id": run_id}, None)
        return sorted((_run_of(d) for d in found), key=lambda r: r.run_id)

    def run_artifacts(self, run_id: str) -> list[Artifact]:
        items = self._pages(f"/runs/{_q(run_id)}/artifacts", {}, None)
        return [Artifact.from_dict(d) for d in items]

    def location(self) -> str:
        # The API does not tell where the server keeps bytes (docs/api.md: never shown).
        return f"{self.server} (the server's store)"

    def file_location(self, artifact: Artifact, file: ArtifactFile) -> str:
        from satchel.client._api import API_PREFIX, file_url  # noqa: PLC0415

        return self.server + API_PREFIX + file_url(artifact.artifact_id, file.path)

    def usage(self) -> UsageReport:
        return self.api.usage()

    def retention_policies(self) -> list[RetentionPolicy]:
        from satchel.client import _retention  # noqa: PLC0415

        return _retention.list_policies(self.api)

    def add_retention(self, spec: dict[str, Any]) -> RetentionPolicy:
        from satchel.client import _retention  # noqa: PLC0415

        return _retention.add_policy(self.api, spec)

    def remove_retention(self, policy_id: str) -> None:
        from satchel.client import _retention  # noqa: PLC0415

        _retention.remove_policy(self.api, policy_id)

    def preview_retention(self, policy_id: str, limit: int) -> Preview:
        from satchel.client import _retention  # noqa: PLC0415

        return _retention.preview_policy(self.api, policy_id, limit)


class EmbeddedOps:
    """``Ops`` on the embedded store: the one local actor may do everything."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.tenancy = tenancy_of(store.index)

    def close(self) -> None:
        return None

    def search(self, request: SearchRequest) -> SearchPage:
        if request.origin and "mine" not in request.origin and "org" not in request.origin:
            return SearchPage()  # nothing here was shared by another organisation
        equals: dict[str, str | None] = {}
        for column, value in (("kind", request.kind), ("run_id", request.run_id)):
            if value is not None:
                equals[column] = validate_token(value, what=column)
        if request.metric is not None:
            validate_token(request.metric, what="metric")
        base = ArtifactQuery(
            equals=equals,
            tags_all=tuple(validate_tags(request.tags)),
            labels=validate_labels(request.labels),
            created_since=window_start(request.time_window),
            metric=request.metric,
            metric_order=None
            if request.metric is None
            else ("min" if request.metric_mode == "min" else "max"),
        )
        text = search_text(request.query)
        if text is not None:
            base = text_query(base, request.metric)
        return page_search(
            self.store.query,
            TextSearcher(self.store.index, None),
            base,
            text=text,
            mode=request.mode,
            cursor=request.cursor,
            limit=request.limit,
            paged=True,
        )

    def _require(self, artifact_id: str) -> Artifact:
        found = self.store.get(artifact_id)
        if found is None:
            raise NotFoundError(f"no artifact with id {artifact_id!r}")
        return found

    def grants(self, artifact_id: str) -> list[Grant]:
        self._require(artifact_id)
        return self.tenancy.list_grants(artifact_id)

    def grant(self, artifact_id: str, *, email: str | None, org_id: str | None) -> Grant:
        self._require(artifact_id)
        return self.tenancy.add_grant(
            artifact_id, email=email, org_id=org_id, granted_by=LOCAL_ACTOR
        )

    def revoke(self, artifact_id: str, grant_id: str) -> None:
        found = self.tenancy.get_grant(grant_id)
        if found is None or found.artifact_id != artifact_id:
            raise NotFoundError(f"artifact {artifact_id!r} has no grant {grant_id!r}")
        self.tenancy.revoke_grant(grant_id)

    def link(self, artifact_id: str, path: str | None, expires_in: int) -> Link:
        self._require(artifact_id)
        raise ConfigError(
            "a signed link is served by a satchel server: run `satchel serve` on this store "
            "and make the link with --server URL (or SATCHEL_SERVER)"
        )

    def delete_artifact(self, artifact_id: str) -> None:
        self.store.delete_artifact(artifact_id)

    def runs(self, *, status: RunStatus | None, limit: int | None) -> list[Run]:
        equals: dict[str, str | None] = {} if status is None else {"status": status}
        return self.store.list_runs(RunQuery(equals=equals, limit=limit))

    def run(self, run_id: str) -> Run:
        found = self.store.get_run(run_id)
        if found is None:
            raise NotFoundError(f"no run with id {run_id!r}")
        return found

    def delete_run(self, run_id: str) -> None:
        self.run(run_id)
        self.store.delete_run(run_id)

    def children(self, run_id: str) -> list[Run]:
        runs = self.store.list_runs(RunQuery(equals={"parent_run_id": run_id}))
        return sorted(runs, key=lambda r: r.run_id)

    def run_artifacts(self, run_id: str) -> list[Artifact]:
        return self.store.query(ArtifactQuery(equals={"run_id": run_id}))

    def location(self) -> str:
        zero = Digest(hexdigest="0" * 64)
        return self.store.blobs.blob_uri(zero)[: -len(blob_key(zero))]

    def file_location(self, artifact: Artifact, file: ArtifactFile) -> str:
        digest = Digest(hexdigest=file.sha256)
        if self.store.blobs.stat(digest) is None:
            return f"{self.store.index.url} (kept inside the index)"
        return self.store.blobs.blob_uri(digest)

    def usage(self) -> UsageReport:
        # Every org and user of the store, with the directory's emails and org names.
        index = self.store.index
        if not isinstance(index, UsageFigures):
            raise ValidationError(f"the index at {index.url} keeps no usage figures")
        users = self.tenancy.list_users()
        members: dict[str, list[str]] = {}
        for user in users:
            members.setdefault(user.org_id, []).append(user.user_id)
        orgs = self.tenancy.list_orgs()
        return with_people(
            index.usage(),
            emails={u.user_id: u.email for u in users},
            org_names={o.org_id: o.name for o in orgs},
            members=members,
            orgs=[o.org_id for o in orgs],
        )

    # Retention: policies made here are store-wide (``org_id`` None), as the one local
    # actor's; on a server's store they apply to every organisation.

    def retention_policies(self) -> list[RetentionPolicy]:
        return policies_of(self.store.index).list_policies()

    def add_retention(self, spec: dict[str, Any]) -> RetentionPolicy:
        policy = RetentionPolicy(created_by=LOCAL_ACTOR, **spec)
        if policy.run_id is not None:
            self.run(policy.run_id)
        policies_of(self.store.index).add_policy(policy)
        return policy

    def remove_retention(self, policy_id: str) -> None:
        if not policies_of(self.store.index).delete_policy(policy_id):
            raise NotFoundError(f"no retention policy with id {policy_id!r}")

    def preview_retention(self, policy_id: str, limit: int) -> Preview:
        policy = policies_of(self.store.index).get_policy(policy_id)
        if policy is None:
            raise NotFoundError(f"no retention policy with id {policy_id!r}")
        now = utcnow()
        found = expired(self.store.index, now=now, policies=[policy])
        return Preview(policy=policy, as_of=now, count=len(found), items=found[:limit])


@dataclass(slots=True)
class Session:
    """A command's target, its facade and its ``Ops``."""

    target: Target
    context: Any  # satchel.Context (imported lazily: the composition root)
    arts: SyncArtifactFacade
    ops: Ops

    @property
    def remote(self) -> bool:
        return self.target.remote

    def require(self, artifact_id: str) -> Artifact:
        """The artifact, or ``NotFoundError``."""
        found = self.arts.get_by_id(artifact_id)
        if found is None:
            raise NotFoundError(f"no artifact with id {artifact_id!r}")
        return found


@contextmanager
def open_session(
    *,
    server: str | None,
    token: str | None,
    store: str | None,
    index: str | None,
    **fields: Any,
) -> Iterator[Session]:
    """The target the options name, opened; ``fields`` are context fields (``run_id``...)."""
    target = resolve(server=server, token=token, store=store, index=index)
    context = target.context(tool_name="satchel-cli", **fields)
    try:
        ops: RemoteOps | EmbeddedOps
        if target.remote:
            ops = RemoteOps(target)
        else:
            assert context.store is not None
            ops = EmbeddedOps(context.store)
        try:
            yield Session(target=target, context=context, arts=context.sync_artifacts(), ops=ops)
        finally:
            ops.close()
    finally:
        context.close()
