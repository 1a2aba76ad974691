"""schemathesis over the app's own OpenAPI document (RELIABILITY: fuzzing).

Every operation gets a bounded number of generated requests, signed in as an admin who owns
an artifact, a pending one, a run, a grant, a spare token and a retention policy: about half
the requests point their path at those (the body stays generated), the others at whatever was
generated. No answer may be a 5xx, carry a status the document does not list, or break its
documented schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from schemathesis import checks

from satchel.config import Settings
from satchel.server import ServerSettings, create_app
from serverkit import SECRET, file_entry, state_of

#: Generated requests per operation: about 35 operations, a few seconds in all.
EXAMPLES = 25
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, dict[str, str]]]:
    """The app's schema (loaded from the app itself), a token, and ids of real things."""
    home: Path = tmp_path_factory.mktemp("fuzz")
    store = Settings.load(environ={}, home=str(home / "home"), store=str(home / "store"))
    app = create_app(ServerSettings.load(environ={}, store=store, secret=SECRET))
    tenancy = state_of(app).tenancy
    org = tenancy.create_org("fuzz")
    user = tenancy.create_user(email="fuzz@example.com", org_id=org.org_id, role="admin")
    _, token = tenancy.create_token(user.user_id, name="fuzz")
    spare, _ = tenancy.create_token(user.user_id, name="spare")
    real = {"org_id": org.org_id, "token_id": spare.token_id}
    http = TestClient(app, headers={"Authorization": f"Bearer {token}"})  # no lifespan
    made = http.post(
        "/api/v1/artifacts",
        json={"run_id": "fuzz-run", "files": [file_entry("f.txt", b"fuzz", inline=True)]},
    ).json()
    pending = http.post(
        "/api/v1/artifacts", json={"files": [file_entry("p.bin", b"x" * 50_000)]}
    ).json()
    grant = http.post(
        f"/api/v1/artifacts/{made['artifact_id']}/grants", json={"email": "g@example.com"}
    ).json()
    policy = http.post("/api/v1/retention", json={"keep_last": 1}).json()
    real.update(
        policy_id=policy["policy_id"],
        artifact_id=made["artifact_id"],
        pending_id=pending["artifact_id"],
        run_id="fuzz-run",
        grant_id=grant["grant_id"],
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app), token, real
    state_of(app).close()


def _real_ids(case: Any, real: dict[str, str]) -> None:
    """Point the case's path at things that exist (the body stays generated)."""
    params = case.path_parameters or {}
    uploads = "/uploads/" in case.path or case.path.endswith(("/presign", "/adopt", "/contents"))
    for name in params:
        if name == "artifact_id":
            params[name] = real["pending_id" if uploads else "artifact_id"]
        elif name == "path":
            params[name] = "p.bin" if uploads else "f.txt"
        elif name in real:
            params[name] = real[name]


def test_every_operation_answers_within_its_schema(
    fuzzed: tuple[Any, str, dict[str, str]],
) -> None:
    schema, token, real = fuzzed
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30

    for operation in operations:
        _fuzz(operation, headers, real)


def _fuzz(operation: Any, headers: dict[str, str], real: dict[str, str]) -> None:
    @given(case=operation.as_strategy(), existing=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def fuzz(case: Any, existing: bool) -> None:
        note(f"operation: {operation.label}, real ids: {existing}")
        if existing:
            _real_ids(case, real)
        case.call_and_validate(headers=headers, checks=CHECKS)

    fuzz()
