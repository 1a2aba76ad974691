"""A token of another organisation sees nothing of this one through the SDK: every read is
"not found" or empty, at every scope level and on every search path (DESIGN.md invariant 5:
an artifact the caller may not read is a 404, never a 403; listings leak nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from remotekit import RemoteWorld, on_both_pairs
from satchel import NotFoundError

LEVELS = ["run", "session", "user", "org"]
SHARED = {"run_id": "r1", "session_id": "s1", "graph_id": "g1", "node_id": "n1"}


@on_both_pairs
async def test_another_orgs_token_sees_nothing(remote: RemoteWorld, tmp_path: Path) -> None:
    ours = remote.context(org_id="o1", user_id="u1", **SHARED).artifacts()
    theirs = remote.context(org_id="o2", user_id="u9", **SHARED).artifacts()
    colleague = remote.context(org_id="o1", user_id="u2", **{**SHARED, "run_id": "r2"})
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_bytes(b"confidential")
    saved = [
        await ours.save_text(
            "confidential quarterly forecast",
            name="forecast",
            kind="report",
            metrics={"acc": 0.9},
            tags=["q3"],
        ),
        await ours.ingest_dir(tree, kind="report"),
        await ours.ingest_dir(tree, archive=True, kind="report"),
    ]
    for a in saved:
        aid = a.artifact_id
        assert await theirs.get_by_id(aid) is None
        for call in (theirs.load_bytes_by_id, theirs.lineage):
            with pytest.raises(NotFoundError):
                await call(aid)
        for uri in (f"satchel://{aid}", f"satchel://{aid}/a.txt", a):
            for call in (theirs.as_local_file, theirs.as_local_dir):
                with pytest.raises(NotFoundError):
                    await call(uri)
        with pytest.raises(NotFoundError):
            await theirs.load_bytes(f"satchel://{aid}")
        with pytest.raises(NotFoundError):
            await theirs.pin(aid, False)
    for level in LEVELS:
        assert await theirs.list(level=level, include_node=False) == []
        assert await theirs.search(level=level, kind="report") == []
        for mode in ("lexical", "hybrid"):
            assert await theirs.search(query="confidential forecast", mode=mode, level=level) == []
        page = await theirs.search_page(level=level, query="forecast")
        assert page.items == [] and page.next_cursor is None
        assert (
            await theirs.best(kind="report", metric="acc", metric_mode="max", level=level) is None
        )
    # Nothing they did changed ours: still unpinned, no use recorded.
    assert (await ours.get_by_id(saved[0].artifact_id)).pinned is False
    assert [o.event for o in await ours.lineage(saved[0].artifact_id)] == ["produced"]
    # The check is not vacuous: a colleague of the same org reads all of it.
    mate = colleague.artifacts()
    assert {a.artifact_id for a in await mate.list(level="org", include_node=False)} == {
        a.artifact_id for a in saved
    }
    assert await mate.load_text_by_id(saved[0].artifact_id) == "confidential quarterly forecast"
    assert [a.name for a in await mate.search(query="forecast", level="org")] == ["forecast"]


@on_both_pairs
async def test_reading_from_a_fresh_context_leaves_no_run(remote: RemoteWorld) -> None:
    from satchel.index.base import RunQuery  # noqa: PLC0415

    saver = remote.context(run_id="r-saver").artifacts()
    saved = await saver.save_text("weights", name="w")
    before = {r.run_id for r in remote.store.list_runs(RunQuery())}
    reader_ctx = remote.context()  # a fresh run, never named, saves nothing
    assert await reader_ctx.artifacts().load_text_by_id(saved.artifact_id) == "weights"
    await reader_ctx.aclose()
    assert {r.run_id for r in remote.store.list_runs(RunQuery())} == before
    uses = [o for o in await saver.lineage(saved.artifact_id) if o.event == "used"]
    assert len(uses) == 1 and uses[0].run_id is None  # the use is kept, with no run
    named = remote.context(run_id="r-reader").artifacts()
    await named.load_text_by_id(saved.artifact_id)
    runs = [o.run_id for o in await saver.lineage(saved.artifact_id) if o.event == "used"]
    assert "r-reader" in runs  # a named run is recorded, as before
