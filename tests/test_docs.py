"""The documentation's examples run, and every error code is documented.

Each Markdown file's ```python blocks run in order in one namespace, with top-level ``await``,
in a fresh working directory with ``SATCHEL_HOME`` pointing at a fresh store; a page that
names ``S3_ENDPOINT`` gets the session's SeaweedFS in ``S3_ENDPOINT`` and ``S3_BUCKET``; a
page marked ``<!-- doc-test: satchel server`` gets a live server of its own in
``SATCHEL_STORE`` and a token for it in ``SATCHEL_TOKEN`` (``remotekit.py``).
"""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path
from typing import Any

import pytest

import satchel
from _seaweed import Seaweed
from remotekit import RemoteWorld
from satchel.errors import SatchelError

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("doc", [d for d in DOCS if python_blocks(d)], ids=lambda p: p.name)
async def test_doc_examples_run(
    doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    if "S3_ENDPOINT" in doc.read_text(encoding="utf-8"):
        server: Seaweed = request.getfixturevalue("seaweed")
        monkeypatch.setenv("S3_ENDPOINT", server.endpoint)
        monkeypatch.setenv("S3_BUCKET", server.bucket)
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    if "<!-- doc-test: satchel server" in doc.read_text(encoding="utf-8"):
        remote: RemoteWorld = request.getfixturevalue("remote")
        monkeypatch.setenv("SATCHEL_STORE", remote.url)
        monkeypatch.setenv("SATCHEL_TOKEN", remote.member().token)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"doc_{doc.stem}"}
    for number, block in enumerate(python_blocks(doc)):
        code = compile(
            block, f"{doc.name}[block {number}]", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        result = types.FunctionType(code, namespace)()
        if result is not None:
            await result


def error_classes() -> list[type[SatchelError]]:
    found = [SatchelError]
    for cls in found:
        found.extend(c for c in cls.__subclasses__() if c not in found)
    return found


def test_every_error_code_is_documented() -> None:
    table = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for cls in error_classes():
        assert f"| `{cls.__name__}` |" in table, cls.__name__
        assert f"| `{cls.code}` |" in table, cls.code


def test_every_public_facade_method_is_documented() -> None:
    sdk = (ROOT / "docs" / "sdk.md").read_text(encoding="utf-8")
    for name in dir(satchel.ArtifactFacade):
        if not name.startswith("_"):
            assert f"`{name}" in sdk, name


def test_every_cli_command_is_documented() -> None:
    from satchel.cli.app import app  # noqa: PLC0415 - the cli extra is in the dev install

    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")

    def command_names(typer_app: Any, prefix: str) -> list[str]:
        found = [
            prefix + (c.name or (c.callback.__name__ if c.callback else ""))
            for c in typer_app.registered_commands
        ]
        for group in typer_app.registered_groups:
            name = group.name if isinstance(group.name, str) else group.typer_instance.info.name
            found.extend(command_names(group.typer_instance, f"{prefix}{name} "))
        return found

    names = command_names(app, "")
    assert "db upgrade" in names
    # Sub-groups and commands registered from other modules (``cli/fetch.py``) are walked.
    assert {"artifacts get", "artifacts where", "artifacts grant", "runs delete", "login"} <= set(
        names
    )
    for name in names:
        assert f"## `satchel {name}`" in cli, name
