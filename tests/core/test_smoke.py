from __future__ import annotations

from typing import Any

from conftest import remote_too


@remote_too
async def test_issue_example_round_trip(arts: Any) -> None:
    a = await arts.save_text(
        "Hello, world!",
        name="results.txt",
        labels={"experiment": "A1"},
        metrics={"accuracy": 0.98},
        tags=["report"],
        pin=True,
    )
    got = await arts.get_by_id(a.artifact_id)
    assert got is not None
    assert got.sha256 == a.sha256
    assert got == a
    assert await arts.load_text_by_id(a.artifact_id) == "Hello, world!"
