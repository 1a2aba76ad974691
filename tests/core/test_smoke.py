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


async def test_a_context_joins_the_run_satchel_run_names(tmp_path: Any, monkeypatch: Any) -> None:
    import satchel  # noqa: PLC0415

    monkeypatch.setenv("SATCHEL_RUN_ID", "captured-run")
    async with satchel.Context(store=str(tmp_path / "store")) as ctx:
        saved = await ctx.artifacts().save_text("x", name="n")
        assert ctx.run_id == "captured-run"
        assert saved.run_id == "captured-run"
    async with satchel.Context(store=str(tmp_path / "store"), run_id="mine") as ctx:
        assert ctx.run_id == "mine"  # an explicit run wins
    monkeypatch.delenv("SATCHEL_RUN_ID")
    async with satchel.Context(store=str(tmp_path / "store")) as ctx:
        assert ctx.run_id not in ("captured-run", "mine")
