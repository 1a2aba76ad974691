"""The no-I/O half of every facade core: validating saves, naming files, staging paths,
decoding loads, and what a URI naming a local path means.

``FacadeCore`` (embedded) and the remote core of ``satchel.client`` both build on
``CoreBase``, so a save is validated, named and typed the same way whichever store it goes
to, and a refusal is the same error before any byte moves.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from satchel.errors import (
    ArtifactIsDirectoryError,
    ArtifactNotDirectoryError,
    InvalidJSONError,
    InvalidMetadataError,
    NotFoundError,
    ValidationError,
)
from satchel.facade._scope import ContextInfo, same_label
from satchel.models import Artifact, ArtifactFile, new_id
from satchel.store import open_regular_file
from satchel.uris import ParsedURI, parse_uri
from satchel.validation import (
    guess_mime,
    guess_text_mime,
    validate_extension,
    validate_file_key,
    validate_labels,
    validate_metrics,
    validate_name,
    validate_tags,
    validate_token,
)

__all__ = [
    "TAR_MIME",
    "CoreBase",
    "SaveSpec",
    "UseLog",
    "artifact_target",
    "check_paths",
    "last_segment",
    "local_dir",
    "local_file",
    "read_local",
]

TAR_MIME: Final = "application/x-tar"


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveSpec:
    """Validated metadata for one save."""

    kind: str | None
    name: str | None
    labels: dict[str, Any]
    metrics: dict[str, float]
    tags: list[str]
    pinned: bool
    mime: str | None
    model_id: str | None = None
    model_version: str | None = None


def last_segment(text: str | None) -> str | None:
    """The last ``/``-segment of a name or URI when it is a valid file key, else None."""
    if not text:
        return None
    segment = text.rstrip("/").rsplit("/", 1)[-1]
    try:
        return validate_file_key(segment)
    except ValidationError:
        return None


class CoreBase:
    """Validation, naming and staging shared by the embedded and the remote core.

    Subclasses set ``context`` (the stamped fields) and ``staging_dir`` (a local directory
    for ``stage_path``/``stage_dir``).
    """

    context: ContextInfo
    staging_dir: Path

    # -- building saves -----------------------------------------------------------------

    def spec(
        self,
        *,
        kind: str | None,
        name: str | None = None,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        pin: bool = False,
        mime: str | None = None,
        suggested_uri: str | None = None,
        default_name: str | None = None,
        model_id: str | None = None,
        model_version: str | None = None,
    ) -> SaveSpec:
        """Validate a save's metadata; the context's scope labels are added to its labels."""
        if kind is not None:
            validate_token(kind, what="kind")
        merged = validate_labels(labels)
        for key, value in self.context.scope.items():
            if key in merged and not same_label(merged[key], value):
                raise InvalidMetadataError(
                    f"label {key!r}={merged[key]!r} conflicts with the context's scope label "
                    f"{key!r}={value!r}"
                )
            merged[key] = value
        if suggested_uri is not None:
            validate_token(suggested_uri, what="suggested_uri", limit=2048)
            merged.setdefault("suggested_uri", suggested_uri)
        if name is not None:
            name = validate_name(name)
        else:
            derived = last_segment(suggested_uri) or default_name
            name = validate_name(derived) if derived else None
        if mime is not None:
            validate_token(mime, what="mime")
        for value, what in ((model_id, "model_id"), (model_version, "model_version")):
            if value is not None:
                validate_token(value, what=what)
        return SaveSpec(
            kind=kind,
            name=name,
            labels=merged,
            metrics=validate_metrics(metrics),
            tags=validate_tags(tags),
            pinned=bool(pin),
            mime=mime,
            model_id=model_id,
            model_version=model_version,
        )

    def text_save(
        self, payload: str, *, mime: str | None, **meta: Any
    ) -> tuple[bytes, SaveSpec, str]:
        """Bytes, spec and fallback file key of a ``save_text``."""
        if not isinstance(payload, str):
            raise ValidationError(f"save_text takes a str, not {type(payload).__name__}")
        name = meta.get("name") or meta.get("suggested_uri")
        spec = self.spec(mime=mime or guess_text_mime(name), **meta)
        try:
            data = payload.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(f"save_text takes text that UTF-8 can encode: {exc}") from exc
        return data, spec, "artifact.txt"

    def json_save(
        self, payload: Any, *, mime: str | None, **meta: Any
    ) -> tuple[bytes, SaveSpec, str]:
        """Bytes, spec and fallback file key of a ``save_json``."""
        try:
            data = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValidationError(f"payload is not JSON-serialisable: {exc}") from exc
        return data, self.spec(mime=mime or "application/json", **meta), "artifact.json"

    def file_spec(self, path: str | os.PathLike[str], **meta: Any) -> SaveSpec:
        """The spec of a ``save_file``: named after the file unless told otherwise."""
        return self.spec(default_name=os.path.basename(os.fspath(path)) or None, **meta)

    def dir_spec(self, staged_dir: str | os.PathLike[str], **meta: Any) -> SaveSpec:
        """The spec of an ``ingest_dir``: named after the directory unless told otherwise."""
        default = os.path.basename(os.path.normpath(os.fspath(staged_dir))) or None
        return self.spec(default_name=default, **meta)

    @staticmethod
    def file_key(spec: SaveSpec, fallback_key: str) -> tuple[str, str]:
        """The file key and MIME type of a single-file save."""
        key = last_segment(spec.name) or fallback_key
        return key, spec.mime or guess_mime(key)

    @staticmethod
    def archive_spec(spec: SaveSpec) -> tuple[SaveSpec, str]:
        """The spec and file key of ``ingest_dir(archive=True)``: one ``.tar`` file."""
        named = spec if spec.name else replace(spec, name="archive.tar")
        key = last_segment(named.name) or "archive.tar"
        if not key.endswith(".tar"):
            key += ".tar"
        return replace(named, mime=TAR_MIME), key

    # -- staging ------------------------------------------------------------------------

    def stage_path(self, ext: str = "") -> str:
        return str(self.staging_dir / f"{new_id()}{validate_extension(ext)}")

    def stage_dir(self, suffix: str = "") -> str:
        if suffix:
            validate_file_key(suffix)
            if "/" in suffix:
                raise ValidationError(f"a staging suffix must not contain '/': {suffix!r}")
        path = self.staging_dir / f"{new_id()}{suffix}"
        path.mkdir(parents=True)
        return str(path)

    def is_staged(self, path: str | os.PathLike[str]) -> bool:
        resolved = Path(os.path.realpath(path))
        return self.staging_dir.resolve() in resolved.parents

    # -- reads --------------------------------------------------------------------------

    @staticmethod
    def check_id(artifact_id: str) -> None:
        if not isinstance(artifact_id, str) or not artifact_id:
            raise ValidationError("artifact_id must be a non-empty string")

    @staticmethod
    def may_exist(artifact_id: str) -> bool:
        """False for an id no index can hold (a lone surrogate, from a non-UTF-8 argv)."""
        return artifact_id.isascii() or _encodable(artifact_id)

    @staticmethod
    def single_file(artifact: Artifact, path: str | None = None) -> ArtifactFile:
        """The file a file-level read means: the named one, or the only one."""
        if path is not None:
            for file in artifact.files:
                if file.path == path:
                    return file
            raise NotFoundError(f"artifact {artifact.artifact_id} has no file {path!r}")
        if artifact.is_dir:
            raise ArtifactIsDirectoryError(
                f"artifact {artifact.artifact_id} is a directory; name a file "
                f"(satchel://{artifact.artifact_id}/<path>) or use as_local_dir"
            )
        if len(artifact.files) != 1:
            raise NotFoundError(f"artifact {artifact.artifact_id} has no single file")
        return artifact.files[0]

    @staticmethod
    def decode_text(data: bytes, encoding: str, errors: str) -> str:
        return data.decode(encoding, errors)

    @staticmethod
    def decode_json(data: bytes, encoding: str, errors: str, *, what: str) -> Any:
        text = data.decode(encoding, errors)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidJSONError(
                f"{what} is not valid JSON: {exc.msg}", exc.doc, exc.pos
            ) from exc


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class UseLog:
    """The lineage "used" events a context recorded: each (artifact, run, node) once."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str | None, str | None]] = set()
        self._lock = threading.Lock()

    def once(self, key: tuple[str, str | None, str | None], record: Callable[[], object]) -> None:
        """Run ``record`` for ``key`` unless it ran already; a failed one runs again later."""
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        try:
            record()
        except BaseException:
            with self._lock:
                self._seen.discard(key)
            raise


def check_paths(artifact: Artifact) -> Artifact:
    """Refuse a record whose id or file paths could name anything outside the copy (a
    damaged index, a hostile server): checked before any file is read or written."""
    validate_file_key(artifact.artifact_id)
    if "/" in artifact.artifact_id:
        raise ValidationError(f"artifact id {artifact.artifact_id!r} cannot be a folder name")
    for file in artifact.files:
        validate_file_key(file.path)
    return artifact


# -- URIs that name the caller's own files ----------------------------------------------


def artifact_target(
    artifact_or_uri: Artifact | str | os.PathLike[str], require: Callable[[str], Artifact]
) -> tuple[Artifact | None, str | None, ParsedURI | None]:
    """What an ``as_local_*`` argument names: an artifact (fetched again by ``require``, and
    maybe one of its files) or a local path (the parsed URI)."""
    if isinstance(artifact_or_uri, Artifact):
        return check_paths(require(artifact_or_uri.artifact_id)), None, None
    target = parse_uri(artifact_or_uri)
    if target.artifact_id is not None:
        return check_paths(require(target.artifact_id)), target.file_path, target
    return None, None, target


def read_local(target: ParsedURI) -> bytes:
    """The bytes of a local path a URI names."""
    assert target.local_path is not None
    # A regular file only: reading a FIFO would block for ever, a device never end.
    with open_regular_file(target.local_path) as fh:
        return fh.read()


def local_file(target: ParsedURI, *, must_exist: bool) -> str:
    """``as_local_file`` of a local path: the path itself, checked."""
    assert target.local_path is not None
    path = target.local_path.resolve()
    if path.is_dir():
        raise ArtifactIsDirectoryError(f"{path} is a directory, not a file")
    if must_exist and not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    return str(path)


def local_dir(target: ParsedURI, *, must_exist: bool) -> str:
    """``as_local_dir`` of a local path: the path itself, checked."""
    assert target.local_path is not None
    path = target.local_path.resolve()
    if path.exists() and not path.is_dir():
        raise ArtifactNotDirectoryError(f"{path} is not a directory")
    if must_exist and not path.is_dir():
        raise NotFoundError(f"no such directory: {path}")
    return str(path)
