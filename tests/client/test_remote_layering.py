"""The core does not depend on the client (DESIGN.md: outer layers call inward, never the
reverse): only the composition root (``satchel.connect``) names ``satchel.client``, and only
for a server URL, so an embedded install needs no httpx. The CLI, an outer layer itself,
also uses the client's HTTP layer for the routes the facade has no call for (grants, links,
runs), importing it only for a server (``tests/cli/test_artifacts_cli.py`` checks that an
embedded command loads no httpx); so does ``satchel run``'s capture (``satchel.capture``),
for the job token of a run on a server."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import satchel

SRC = Path(satchel.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_composition_root_imports_the_client() -> None:
    importing = sorted(
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] != "client"
        and any(
            name == "satchel.client" or name.startswith("satchel.client.")
            for name in _imports(path)
        )
    )
    outer = ("cli/", "capture/")
    assert [p for p in importing if not p.startswith(outer)] == ["connect.py"]
    # The core packages never do, however they are reached.
    core = ("facade/", "index/", "storage/", "search/", "tenancy/", "store.py", "context.py")
    assert not [p for p in importing if p.startswith(core)]


def test_an_embedded_context_never_loads_the_client(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import satchel
        with satchel.Context(store={str(tmp_path / "store")!r}) as ctx:
            ctx.sync_artifacts().save_text("embedded")
        loaded = sorted(m for m in sys.modules if m.startswith(("satchel.client", "httpx")))
        assert loaded == [], loaded
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, env={"SATCHEL_HOME": str(tmp_path)})
