"""``satchel admin``: orgs, users and tokens from the command line, on both dialects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from satchel.cli.app import app
from satchel.index import open_index
from satchel.tenancy import tenancy_of


def admin(url: str, *args: str, stdin: str | None = None, code: int = 0) -> tuple[str, str]:
    """Run ``satchel admin ARGS --index URL``; its stdout and stderr."""
    result = CliRunner().invoke(app, ["admin", *args, "--index", url], input=stdin)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout, result.stderr


def authenticate(url: str, secret: str) -> object:
    index = open_index(url)
    try:
        return tenancy_of(index).authenticate(secret)
    finally:
        index.close()


def test_orgs_users_and_tokens(empty_index_url: str) -> None:
    out, _ = admin(empty_index_url, "org", "create", "Acme Labs")
    assert out.startswith("org ") and "created: Acme Labs" in out
    admin(empty_index_url, "org", "create", "rival")
    out, _ = admin(empty_index_url, "org", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ORG_ID", "NAME", "USERS", "CREATED"]
    assert [line.split()[1] for line in lines[1:]] == ["Acme", "rival"]

    out, _ = admin(
        empty_index_url,
        "user",
        "create",
        "Ann@Acme.example",
        "--org",
        "Acme Labs",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    assert "with a password: ann@acme.example (admin)" in out
    org_id = next(line.split()[0] for line in lines[1:] if "rival" in line)
    admin(empty_index_url, "user", "create", "eve@rival.example", "--org", org_id)  # by id too
    out, _ = admin(empty_index_url, "user", "list")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[1], r[-3], r[-2]) for r in rows] == [
        ("ann@acme.example", "admin", "yes"),
        ("eve@rival.example", "member", "no"),
    ]
    out, _ = admin(empty_index_url, "user", "list", "--org", "rival")
    assert "eve@rival.example" in out and "ann@" not in out

    index = open_index(empty_index_url)
    try:
        assert tenancy_of(index).check_password("ann@acme.example", "a long passphrase")
    finally:
        index.close()

    secret, note = admin(empty_index_url, "token", "create", "ann@acme.example", "--name", "laptop")
    secret = secret.strip()
    assert secret.startswith("sat_") and "\n" not in secret
    assert "shown this once" in note
    actor = authenticate(empty_index_url, secret)
    assert actor is not None
    job, note = admin(
        empty_index_url,
        "token",
        "create",
        "ann@acme.example",
        "--name",
        "job",
        "--expires-in",
        "2h",
        "--run",
        "run-9",
    )
    assert "run run-9 only" in note
    assert getattr(authenticate(empty_index_url, job.strip()), "run_id", None) == "run-9"

    out, _ = admin(empty_index_url, "token", "list", "ann@acme.example")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[1], r[2], r[3]) for r in rows] == [("job", "live", "run-9"), ("laptop", "live", "-")]
    assert secret not in out and job.strip() not in out
    laptop = next(r[0] for r in rows if r[1] == "laptop")
    out, _ = admin(empty_index_url, "token", "revoke", laptop)
    assert f"token {laptop} revoked" in out
    assert authenticate(empty_index_url, secret) is None
    out, _ = admin(empty_index_url, "token", "list", "ann@acme.example")
    assert any(line.split()[1:3] == ["laptop", "revoked"] for line in out.splitlines())


@pytest.mark.parametrize(
    ("args", "stdin", "code", "error"),
    [
        (("org", "create", ""), None, 1, "error[invalid_metadata]"),
        (("user", "create", "x@y.z", "--org", "nope"), None, 1, "error[not_found]"),
        (("user", "create", "not-an-email", "--org", "o"), None, 1, "error[validation_error]"),
        (("user", "create", "x@y.z", "--org", "o", "--role", "owner"), None, 1, "--role"),
        (("user", "create", "x@y.z", "--org", "o", "--password-stdin"), "short\n", 1, "8"),
        (("token", "create", "nobody@y.z", "--name", "t"), None, 1, "error[not_found]"),
        (("token", "create", "a@o.example", "--name", "t", "--expires-in", "soon"), None, 1, "2h"),
        (("token", "revoke", "no-such-token"), None, 1, "error[not_found]"),
        (("token", "list", "nobody@y.z"), None, 1, "error[not_found]"),
        (("user", "create", "x@y.z"), None, 2, "--org"),
    ],
)
def test_errors_are_reported(
    empty_index_url: str, args: tuple[str, ...], stdin: str | None, code: int, error: str
) -> None:
    admin(empty_index_url, "org", "create", "o")
    admin(empty_index_url, "user", "create", "a@o.example", "--org", "o")
    _, err = admin(empty_index_url, *args, stdin=stdin, code=code)
    assert error in err


def test_a_duplicate_is_a_conflict(empty_index_url: str) -> None:
    admin(empty_index_url, "org", "create", "o")
    _, err = admin(empty_index_url, "org", "create", "o", code=1)
    assert err.startswith("error[conflict]")
    admin(empty_index_url, "user", "create", "a@o.example", "--org", "o")
    _, err = admin(empty_index_url, "user", "create", "A@O.example", "--org", "o", code=1)
    assert err.startswith("error[conflict]")


def test_the_installed_command_prints_only_the_secret(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.db'}"

    def satchel(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "satchel.cli", "admin", *args, "--index", url],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )

    satchel("org", "create", "o")
    satchel("user", "create", "a@o.example", "--org", "o")
    made = satchel("token", "create", "a@o.example", "--name", "ci")
    secret = made.stdout.strip()
    assert authenticate(url, secret) is not None
    assert secret not in made.stderr
