"""docs/api.md stays true: every route of the app is documented there, and the error codes
the server answers are the ones the table lists."""

from __future__ import annotations

import re
from pathlib import Path

from satchel.server.errors import STATUS
from serverkit import route_table

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_every_route_is_in_the_api_document() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    missing = []
    for method, path in sorted(route_table()):
        shown = path.replace("{artifact_id}", "{id}")
        if not re.search(rf"`{method} {re.escape(shown)}[`?\s]", text):
            missing.append(f"{method} {shown}")
    assert missing == []


def test_every_error_status_is_in_the_api_document() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    for code in STATUS:
        assert f"`{code}`" in text, code
