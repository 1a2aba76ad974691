"""Artifacts, their files and uploads, search, grants, links, lineage."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from satchel.facade._paging import SearchPage
from satchel.models import Artifact, Occurrence
from satchel.server.schemas.common import Page, Strict, plain
from satchel.tenancy.base import Grant

__all__ = [
    "AdoptIn",
    "ArtifactCreate",
    "ArtifactOut",
    "BestIn",
    "BestOut",
    "ContentIn",
    "ContentsIn",
    "FileIn",
    "FileOut",
    "GrantIn",
    "GrantOut",
    "LinkIn",
    "LinkOut",
    "MultipartIn",
    "MultipartOut",
    "MultipartState",
    "OccurrenceOut",
    "Origin",
    "PartOut",
    "PartUrl",
    "PartsIn",
    "PartsOut",
    "PinIn",
    "PresignIn",
    "PresignOut",
    "SearchIn",
    "UploadState",
    "UseIn",
    "artifact_page",
]

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Text = Annotated[str, Field(max_length=2048)]
Short = Annotated[str, Field(max_length=255)]
FilePath = Annotated[str, Field(min_length=1, max_length=4096)]
Origin = Literal["mine", "org", "shared"]
#: A value kept in a 64-character id column (runs, sessions, clients, apps, orgs, users).
IdText = Annotated[str, Field(min_length=1, max_length=64)]
#: Ids the server itself makes, and a client's own artifact id (a ULID or alike).
ClientId = Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
MAX_FILES = 100_000


class FileIn(Strict):
    """One file of an artifact being created."""

    path: FilePath
    sha256: Sha256
    bytes: int = Field(ge=0, le=1 << 50)
    mime: Short | None = None
    #: The file's bytes, base64 (small files: up to the server's ``content_max``).
    content: str | None = None


class ArtifactCreate(Strict):
    """The metadata and file list of a new artifact (its first phase); no files: an empty
    directory."""

    files: list[FileIn] = Field(max_length=MAX_FILES)
    artifact_id: ClientId | None = None
    name: Text | None = None
    kind: Short | None = None
    run_id: IdText | None = None
    session_id: IdText | None = None
    graph_id: Short | None = None
    node_id: Short | None = None
    tool_name: Short | None = None
    tool_version: Short | None = None
    model_id: Short | None = None
    model_version: Short | None = None
    client_id: IdText | None = None
    app_id: IdText | None = None
    preview_uri: Text | None = None
    tags: list[Short] = Field(default_factory=list, max_length=1000)
    labels: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    pinned: bool = False
    mime: Short | None = None
    directory: bool | None = None


class FileOut(BaseModel):
    path: str
    sha256: str
    bytes: int
    mime: str | None
    status: Literal["pending", "completed"]


class ArtifactOut(BaseModel):
    """An artifact: the SDK's ``Artifact.to_dict()``."""

    artifact_id: str
    name: str | None
    kind: str | None
    status: Literal["pending", "completed", "failed"]
    run_id: str | None
    graph_id: str | None
    node_id: str | None
    tool_name: str | None
    tool_version: str | None
    model_id: str | None
    model_version: str | None
    sha256: str | None
    bytes: int | None
    mime: str | None
    created_at: str | None
    updated_at: str | None
    tags: list[str]
    labels: dict[str, Any]
    metrics: dict[str, float]
    pinned: bool
    uri: str | None
    preview_uri: str | None
    org_id: str | None
    user_id: str | None
    client_id: str | None
    app_id: str | None
    session_id: str | None
    files: list[FileOut]

    @classmethod
    def of(cls, artifact: Artifact) -> ArtifactOut:
        """The artifact as clients see it: its ``uri`` is always ``satchel://<id>``, which
        every client resolves through this API; where the server keeps the bytes (a path
        on its disk, a bucket key) is its own business."""
        data = artifact.to_dict()
        data["uri"] = f"satchel://{artifact.artifact_id}"
        return cls.model_validate(data)


def artifact_page(page: SearchPage) -> Page[ArtifactOut]:
    """A page of artifacts as the API answers it."""
    return Page[ArtifactOut](
        items=[ArtifactOut.of(a) for a in page.items], next_cursor=page.next_cursor
    )


class ContentIn(Strict):
    path: FilePath
    content: str


class ContentsIn(Strict):
    """The content of several pending files at once."""

    files: list[ContentIn] = Field(min_length=1, max_length=MAX_FILES)


class UploadState(BaseModel):
    """How far the upload of one file is."""

    path: str
    bytes: int
    received: int
    status: Literal["pending", "completed"]
    artifact_status: Literal["pending", "completed", "failed"]


class PresignIn(Strict):
    path: FilePath
    expires_in: int = Field(default=3600, ge=1, le=7 * 86400)


class PresignOut(BaseModel):
    url: str
    token: str
    expires_at: str


class AdoptIn(Strict):
    path: FilePath
    token: Annotated[str, Field(max_length=64)]


class MultipartIn(Strict):
    path: FilePath
    #: Bytes per part; the server rounds it up to what the store and S3 allow.
    part_size: int | None = Field(default=None, ge=1, le=5 << 30)


class MultipartOut(BaseModel):
    """A multipart upload begun: its token, and how the file is cut into parts."""

    upload: str
    path: str
    bytes: int
    part_size: int
    parts: int
    expires_at: str


class PartOut(BaseModel):
    number: int
    size: int
    etag: str


class MultipartState(MultipartOut):
    """A multipart upload's parts so far (resume: PUT the others)."""

    status: Literal["pending", "completed"]
    uploaded: list[PartOut]


class PartsIn(Strict):
    numbers: list[Annotated[int, Field(ge=1, le=10_000)]] = Field(min_length=1, max_length=1000)
    expires_in: int = Field(default=3600, ge=1, le=7 * 86400)


class PartUrl(BaseModel):
    number: int
    url: str


class PartsOut(BaseModel):
    """One presigned ``PUT`` URL per part asked for."""

    urls: list[PartUrl]
    expires_at: str


class PinIn(Strict):
    pinned: bool = True


class UseIn(Strict):
    run_id: IdText | None = None
    node_id: Short | None = None


class OccurrenceOut(BaseModel):
    artifact_id: str
    run_id: str | None
    node_id: str | None
    event: Literal["produced", "used"]
    at: str

    @classmethod
    def of(cls, item: Occurrence) -> OccurrenceOut:
        return cls.model_validate(plain(item))


class _Filters(Strict):
    equals: dict[str, Short | None] = Field(default_factory=dict)
    tags: list[Short] = Field(default_factory=list, max_length=1000)
    labels: dict[str, Any] = Field(default_factory=dict)
    metric: Short | None = None
    metric_mode: Literal["max", "min"] | None = None
    time_window: Annotated[str, Field(max_length=16)] | None = None
    origin: list[Origin] = Field(default_factory=list, max_length=3)


class SearchIn(_Filters):
    """The facade's ``search_page``, its scope level already turned into ``equals``."""

    query: Text | None = None
    mode: Literal["structured", "lexical", "semantic", "hybrid"] | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    cursor: Annotated[str, Field(max_length=4096)] | None = None
    #: False: the facade's ``search``, the top ``limit`` results ranked in one go (no
    #: cursor); a text search then ranks exactly as the embedded ``search`` does.
    paged: bool = True


class BestIn(_Filters):
    """The facade's ``best``: the top artifact of a kind by a metric."""

    metric: Short
    kind: Short


class BestOut(BaseModel):
    artifact: ArtifactOut | None


class GrantIn(Strict):
    """Exactly one of ``email`` or ``org_id``."""

    email: Short | None = None
    org_id: IdText | None = None


class GrantOut(BaseModel):
    grant_id: str
    artifact_id: str
    email: str | None
    org_id: str | None
    granted_by: str
    created_at: str

    @classmethod
    def of(cls, grant: Grant) -> GrantOut:
        return cls.model_validate(plain(grant, recipient_email="email", recipient_org_id="org_id"))


class LinkIn(Strict):
    path: FilePath | None = None
    expires_in: int | None = Field(default=None, ge=1)


class LinkOut(BaseModel):
    url: str
    path: str
    expires_at: str
