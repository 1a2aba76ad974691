"""Rows: Artifact and Run values to table rows and back, a batch of writes to rows, and
which keys a row can hold at all."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table

from satchel.index.base import ArtifactWrite
from satchel.index.query import label_row
from satchel.index.schema import (
    artifact_files,
    artifact_labels,
    artifact_metrics,
    artifact_tags,
    artifacts,
    inline_blobs,
    runs,
)
from satchel.models import Artifact, ArtifactFile, Run, format_time, parse_time, utcnow

__all__ = [
    "BatchRows",
    "artifact_from_row",
    "artifact_row",
    "rows_for_writes",
    "run_from_row",
    "run_row",
    "storable",
]

#: Tables in insertion order, each with whether a conflict is ignored (insert-if-absent).
BatchRows = list[tuple[Table, bool, list[dict[str, Any]]]]


def storable(key: object) -> bool:
    """Whether any row can hold ``key``: every key is a printable string when written, and
    PostgreSQL refuses U+0000 in a text parameter outright (an error where SQLite finds
    nothing), so a lookup by a caller-given key checks this first and finds nothing."""
    return isinstance(key, str) and "\x00" not in key


def _dumps(value: Any) -> str:
    if not value:  # the common case on the save path: no tags, labels or metrics
        return "[]" if isinstance(value, list) else "{}"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def artifact_row(artifact: Artifact) -> dict[str, Any]:
    assert artifact.created_at is not None
    assert artifact.updated_at is not None
    created = format_time(artifact.created_at)
    updated = (
        created if artifact.updated_at == artifact.created_at else format_time(artifact.updated_at)
    )
    return {
        "artifact_id": artifact.artifact_id,
        "name": artifact.name,
        "kind": artifact.kind,
        "status": artifact.status,
        "run_id": artifact.run_id,
        "graph_id": artifact.graph_id,
        "node_id": artifact.node_id,
        "tool_name": artifact.tool_name,
        "tool_version": artifact.tool_version,
        "model_id": artifact.model_id,
        "model_version": artifact.model_version,
        "sha256": artifact.sha256,
        "bytes": artifact.bytes,
        "mime": artifact.mime,
        "created_at": created,
        "updated_at": updated,
        "tags": _dumps(artifact.tags),
        "labels": _dumps(artifact.labels),
        "metrics": _dumps(artifact.metrics),
        "pinned": artifact.pinned,
        "uri": artifact.uri,
        "preview_uri": artifact.preview_uri,
        "org_id": artifact.org_id,
        "user_id": artifact.user_id,
        "client_id": artifact.client_id,
        "app_id": artifact.app_id,
        "session_id": artifact.session_id,
    }


def artifact_from_row(row: Any, files: list[ArtifactFile]) -> Artifact:
    data = row._mapping
    return Artifact(
        artifact_id=data["artifact_id"],
        name=data["name"],
        kind=data["kind"],
        status=data["status"],
        run_id=data["run_id"],
        graph_id=data["graph_id"],
        node_id=data["node_id"],
        tool_name=data["tool_name"],
        tool_version=data["tool_version"],
        model_id=data["model_id"],
        model_version=data["model_version"],
        sha256=data["sha256"],
        bytes=data["bytes"],
        mime=data["mime"],
        created_at=parse_time(data["created_at"]),
        updated_at=parse_time(data["updated_at"]),
        tags=json.loads(data["tags"]),
        labels=json.loads(data["labels"]),
        metrics=json.loads(data["metrics"]),
        pinned=bool(data["pinned"]),
        uri=data["uri"],
        preview_uri=data["preview_uri"],
        org_id=data["org_id"],
        user_id=data["user_id"],
        client_id=data["client_id"],
        app_id=data["app_id"],
        session_id=data["session_id"],
        files=files,
    )


def run_row(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "name": run.name,
        "parent_run_id": run.parent_run_id,
        "org_id": run.org_id,
        "user_id": run.user_id,
        "session_id": run.session_id,
        "status": run.status,
        "started_at": format_time(run.started_at or utcnow()),
        "ended_at": format_time(run.ended_at) if run.ended_at else None,
    }


def run_from_row(row: Any) -> Run:
    return Run(
        run_id=row.run_id,
        name=row.name,
        parent_run_id=row.parent_run_id,
        org_id=row.org_id,
        user_id=row.user_id,
        session_id=row.session_id,
        status=row.status,
        started_at=parse_time(row.started_at) if row.started_at else None,
        ended_at=parse_time(row.ended_at) if row.ended_at else None,
    )


def rows_for_writes(writes: Sequence[ArtifactWrite]) -> BatchRows:
    """Every row a batch of artifact writes inserts, grouped by table in insert order."""
    artifact_rows: list[dict[str, Any]] = []
    file_rows: list[dict[str, Any]] = []
    label_rows: list[dict[str, Any]] = []
    metric_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    blob_rows: dict[str, dict[str, Any]] = {}
    run_rows: dict[str, dict[str, Any]] = {}
    for write in writes:
        artifact = write.artifact
        aid = artifact.artifact_id
        row = artifact_row(artifact)
        artifact_rows.append(row)
        file_rows.extend(
            {
                "artifact_id": aid,
                "path": f.path,
                "sha256": f.sha256,
                "bytes": f.bytes,
                "mime": f.mime,
                "status": f.status,
                "inline": f.sha256 in write.inline_blobs,
            }
            for f in artifact.files
        )
        # The kind is copied onto label, tag and metric rows, whose indexes filter by it;
        # the time onto metric rows too: ix_artifact_metrics_rank ranks by it.
        kind, created = row["kind"], row["created_at"]
        label_rows.extend(
            {**label_row(aid, k, v), "kind": kind} for k, v in artifact.labels.items()
        )
        metric_rows.extend(
            {"artifact_id": aid, "name": k, "value": float(v), "kind": kind, "created_at": created}
            for k, v in artifact.metrics.items()
        )
        tag_rows.extend({"artifact_id": aid, "tag": t, "kind": kind} for t in artifact.tags)
        for sha, data in write.inline_blobs.items():
            blob_rows[sha] = {"sha256": sha, "bytes": len(data), "data": data}
        if write.run is not None:
            run_rows[write.run.run_id] = run_row(write.run)
    return [
        (runs, True, list(run_rows.values())),
        (inline_blobs, True, list(blob_rows.values())),
        (artifacts, False, artifact_rows),
        (artifact_files, False, file_rows),
        (artifact_labels, False, label_rows),
        (artifact_metrics, False, metric_rows),
        (artifact_tags, False, tag_rows),
    ]
