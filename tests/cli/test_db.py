"""``satchel db status`` and ``satchel db upgrade`` on both dialects."""

from __future__ import annotations

from pathlib import Path

import alembic.command
import sqlalchemy as sa
from alembic.config import Config
from typer.testing import CliRunner

import satchel.index.sql
from satchel.cli.app import app
from satchel.index import open_index
from satchel.index.postgres import public_url
from satchel.index.schema import SCHEMA_HEAD

MIGRATIONS = Path(satchel.index.sql.__file__).parent / "migrations"


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def migrate_to(url: str, revision: str) -> None:
    """Run the migrations up to ``revision`` only, as an older satchel left the index."""
    driver = url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(driver)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            alembic.command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_status_and_upgrade_of_an_empty_database(empty_index_url: str) -> None:
    status = run("db", "status", "--index", empty_index_url)
    assert "current: none (empty)" in status
    assert f"head: {SCHEMA_HEAD}" in status
    assert "upgrade pending: yes" in status
    assert run("db", "upgrade", "--index", empty_index_url).strip() == (
        f"upgraded: none (empty) -> {SCHEMA_HEAD}"
    )
    status = run("db", "status", "--index", empty_index_url)
    assert f"current: {SCHEMA_HEAD}" in status and "upgrade pending: no" in status
    assert (
        run("db", "upgrade", "--index", empty_index_url).strip()
        == f"already at head: {SCHEMA_HEAD}"
    )


def test_upgrade_from_an_older_revision(empty_index_url: str) -> None:
    migrate_to(empty_index_url, "0002")
    status = run("db", "status", "--index", empty_index_url)
    assert "current: 0002" in status and "upgrade pending: yes" in status
    assert (
        run("db", "upgrade", "--index", empty_index_url).strip()
        == f"upgraded: 0002 -> {SCHEMA_HEAD}"
    )
    idx = open_index(empty_index_url)
    try:
        assert idx.url == public_url(empty_index_url) or empty_index_url.startswith("sqlite")
    finally:
        idx.close()


def test_status_never_prints_the_password(tmp_path: Path) -> None:
    url = "postgresql://satchel:s3cret@127.0.0.1:1/nowhere"
    assert "s3cret" not in public_url(url)
    result = CliRunner().invoke(app, ["db", "status", "--index", url])
    assert result.exit_code == 1
    assert "s3cret" not in result.output
