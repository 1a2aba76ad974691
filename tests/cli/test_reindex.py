"""``satchel reindex`` rebuilds the text indexes and the vectors from the rows."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import satchel
from satchel.cli.app import app


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    with satchel.Context(store=str(path), run_id="r1") as ctx:
        arts = ctx.sync_artifacts()
        arts.save_text("speech recognition transcripts", name="whisper-out")
        arts.save_text("sentiment classifier for reviews", name="bert-sst2")
        arts.search(query="speech")  # fills the text index
        arts.search(query="speech", mode="semantic")  # and the vectors
    return path


def wipe(store: Path) -> None:
    with sqlite3.connect(store / "index.db") as conn:
        for table in ("artifact_fts", "artifact_trigram", "artifact_vectors", "search_watermarks"):
            conn.execute(f"DELETE FROM {table}")
        # Watermarks gone and indexes empty; a search would catch up, but reindex must
        # rebuild without one.


def counts(store: Path) -> tuple[int, int]:
    with sqlite3.connect(store / "index.db") as conn:
        fts = conn.execute("SELECT count(*) FROM artifact_fts").fetchone()[0]
        vectors = conn.execute("SELECT count(*) FROM artifact_vectors").fetchone()[0]
    return fts, vectors


def test_reindex_rebuilds_text_and_vectors(store: Path) -> None:
    wipe(store)
    assert counts(store) == (0, 0)
    result = CliRunner().invoke(app, ["reindex", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "text: 2 artifacts indexed" in result.stdout
    assert "vectors (all-MiniLM-L6-v2): 2 artifacts embedded" in result.stdout
    assert counts(store) == (2, 2)


def test_reindex_twice_keeps_one_vector_per_artifact(store: Path) -> None:
    for _ in range(2):
        result = CliRunner().invoke(app, ["reindex", "--store", str(store)])
        assert result.exit_code == 0, result.output
    assert counts(store) == (2, 2)


def test_no_semantic_leaves_vectors_alone(store: Path) -> None:
    wipe(store)
    result = CliRunner().invoke(app, ["reindex", "--store", str(store), "--no-semantic"])
    assert result.exit_code == 0, result.output
    assert "vectors" not in result.stdout
    assert counts(store) == (2, 0)


def test_errors_are_reported_with_their_code(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-dir"
    bad.write_text("x")
    result = CliRunner().invoke(app, ["reindex", "--store", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error[")


def test_the_script_and_module_run(store: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "satchel.cli", "reindex", "--store", str(store), "--no-semantic"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "text: 2 artifacts indexed" in out.stdout
    script = Path(sys.executable).with_name("satchel")
    assert script.exists()
    out = subprocess.run([script, "--help"], capture_output=True, text=True, check=True)
    assert "reindex" in out.stdout
