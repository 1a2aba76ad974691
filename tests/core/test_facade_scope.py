"""Scope levels, list filters and runs (seeds/002 section 2, DESIGN.md "Scope levels").

seeds/README.md: AetherGraph's scope levels never widen past the current run and its label
filters use SQL LIKE (numbers never match, ``%`` is a wildcard). satchel: run ⊂ session ⊂
user ⊂ org, each level exactly the artifacts whose field equals the context's; filters
compare typed values.
"""

from __future__ import annotations

from typing import Any

import pytest

import satchel
from conftest import facade_of, remote_too, store_of
from satchel import InvalidMetadataError, ValidationError
from satchel.storage.local import LocalBlobStore

pytestmark = remote_too

# -- helpers --------------------------------------------------------------------------------


def fields_of(context: satchel.Context, **overrides: Any) -> dict[str, Any]:
    """The fixture context's fields, with some replaced."""
    info = context.info
    out = {
        "org_id": info.org_id,
        "user_id": info.user_id,
        "session_id": info.session_id,
        "run_id": info.run_id,
        "graph_id": info.graph_id,
        "node_id": info.node_id,
        "tool_name": info.tool_name,
        "tool_version": info.tool_version,
    }
    out.update(overrides)
    return out


def ids(artifacts: list[satchel.Artifact]) -> list[str]:
    return [a.artifact_id for a in artifacts]


def run_status(context: satchel.Context, run_id: str) -> str | None:
    """The recorded status of a run (reaches into the store's index on purpose)."""
    run = store_of(context).get_run(run_id)
    return None if run is None else run.status


# -- levels ---------------------------------------------------------------------------------


async def test_default_is_run_level_with_node(arts, context, open_context):
    mine = await arts.save_text("mine")
    other_run = open_context(**fields_of(context, run_id="r-other"))
    await other_run.artifacts().save_text("other run")
    other_node = open_context(**fields_of(context, node_id="n-other"))
    await other_node.artifacts().save_text("same run, other node")

    assert ids(await arts.list()) == [mine.artifact_id]
    assert ids(await arts.list(level="run", include_node=True)) == [mine.artifact_id]
    assert ids(await arts.list(level=None)) == [mine.artifact_id]


async def test_levels_widen_run_session_user_org(arts, context, open_context):
    mine = await arts.save_text("mine")
    contexts = {
        "same session": fields_of(context, run_id="r2"),
        "same user": fields_of(context, run_id="r3", session_id="s2"),
        "same org": fields_of(context, run_id="r4", session_id="s3", user_id="u2"),
        "other org": fields_of(context, run_id="r5", session_id="s4", user_id="u3", org_id="o2"),
    }
    saved = {"mine": mine.artifact_id}
    for label, fields in contexts.items():
        ctx = open_context(**fields)
        saved[label] = (await ctx.artifacts().save_text(label)).artifact_id

    expected = {
        "run": {"mine"},
        "session": {"mine", "same session"},
        "user": {"mine", "same session", "same user"},
        "org": {"mine", "same session", "same user", "same org"},
    }
    previous: set[str] = set()
    for level, names in expected.items():
        for include_node in (True, False):
            got = ids(await arts.list(level=level, include_node=include_node))
            assert len(got) == len(set(got)), level
            assert set(got) == {saved[n] for n in names}, (level, include_node)
        assert previous < set(got), level  # strictly wider at every step
        previous = set(got)

    # The other org sees only its own artifacts, whatever the level.
    other = open_context(**contexts["other org"]).artifacts()
    for level in ("run", "session", "user", "org"):
        assert ids(await other.list(level=level)) == [saved["other org"]]


async def test_include_node_narrows_to_graph_and_node(arts, context, open_context):
    mine = await arts.save_text("mine")
    sibling = open_context(**fields_of(context, node_id="n2"))
    sib = await sibling.artifacts().save_text("same graph, other node")

    assert ids(await arts.list(include_node=True)) == [mine.artifact_id]
    assert set(ids(await arts.list(include_node=False))) == {mine.artifact_id, sib.artifact_id}
    assert set(ids(await arts.list(level="org", include_node=False))) == {
        mine.artifact_id,
        sib.artifact_id,
    }
    assert ids(await arts.list(level="org", include_node=True)) == [mine.artifact_id]
    # From the sibling's point of view, the node filter selects the sibling.
    assert ids(await sibling.artifacts().list()) == [sib.artifact_id]


async def test_unknown_level_is_refused(arts):
    for level in ("project", "RUN", "global", "run "):
        with pytest.raises(ValidationError):
            await arts.list(level=level)


async def test_scope_level_needs_scope_labels(arts):
    await arts.save_text("x")
    with pytest.raises(ValidationError):
        await arts.list(level="scope")


async def test_scope_level_uses_the_contexts_scope_labels(open_context, context, facade_kind):
    base = fields_of(context)
    p1 = open_context(**{**base, "run_id": "ra"}, scope={"project": "p1"})
    p1_elsewhere = open_context(
        **{**base, "run_id": "rb", "session_id": "sb", "user_id": "u9"}, scope={"project": "p1"}
    )
    p2 = open_context(**{**base, "run_id": "rc"}, scope={"project": "p2"})
    arts = facade_of(p1, facade_kind)

    a = await arts.save_text("p1 here", labels={"kind_of": "report"})
    assert a.labels == {"kind_of": "report", "project": "p1"}
    assert (await arts.get_by_id(a.artifact_id)).labels["project"] == "p1"
    same = await arts.save_text("same value is fine", labels={"project": "p1"})
    b = await p1_elsewhere.artifacts().save_text("p1 elsewhere")
    c = await p2.artifacts().save_text("p2")
    assert c.labels == {"project": "p2"}

    # A label that contradicts the context's scope is refused.
    with pytest.raises(InvalidMetadataError):
        await arts.save_text("conflict", labels={"project": "p2"})
    async_with_error = None
    try:
        async with arts.writer(kind="log", labels={"project": "p2"}) as w:
            await w.write(b"x")
    except InvalidMetadataError as exc:
        async_with_error = exc
    assert async_with_error is not None

    in_scope = set(ids(await arts.list(level="scope")))
    assert in_scope == {a.artifact_id, same.artifact_id, b.artifact_id}
    assert c.artifact_id not in in_scope
    # Extra filters narrow within the scope.
    assert ids(await arts.list(level="scope", filters={"kind_of": "report"})) == [a.artifact_id]
    # The run level still means the run.
    assert set(ids(await arts.list(level="run"))) == {a.artifact_id, same.artifact_id}


# -- filters ------------------------------------------------------------------------------


async def test_tags_filter_means_all_given_tags(arts):
    ab = await arts.save_text("ab", tags=["a", "b"])
    a = await arts.save_text("a", tags=["a"])
    b = await arts.save_text("b", tags=["b", "c"])
    await arts.save_text("none")
    assert set(ids(await arts.list(tags=["a"]))) == {ab.artifact_id, a.artifact_id}
    assert set(ids(await arts.list(tags=["b"]))) == {ab.artifact_id, b.artifact_id}
    assert ids(await arts.list(tags=["a", "b"])) == [ab.artifact_id]
    assert ids(await arts.list(tags=["b", "a", "a"])) == [ab.artifact_id]
    assert await arts.list(tags=["a", "c"]) == []
    assert await arts.list(tags=["missing"]) == []
    assert len(await arts.list(tags=[])) == 4
    with pytest.raises(ValidationError):
        await arts.list(tags="a")


async def test_label_filters_compare_typed_values(arts):
    saved = {
        "int3": await arts.save_text("1", labels={"n": 3}),
        "str3": await arts.save_text("2", labels={"n": "3"}),
        "float": await arts.save_text("3", labels={"n": 3.5}),
        "true": await arts.save_text("4", labels={"flag": True}),
        "one": await arts.save_text("5", labels={"flag": 1}),
        "zero": await arts.save_text("6", labels={"flag": 0}),
        "pct": await arts.save_text("7", labels={"p": "50%"}),
        "pct-other": await arts.save_text("8", labels={"p": "50x"}),
        "under": await arts.save_text("9", labels={"u": "a_c"}),
        "abc": await arts.save_text("10", labels={"u": "abc"}),
        "both": await arts.save_text("11", labels={"n": 3, "u": "abc"}),
    }
    cases = [
        ({"n": 3}, {"int3", "both"}),
        ({"n": 3.0}, {"int3", "both"}),
        ({"n": "3"}, {"str3"}),
        ({"n": 3.5}, {"float"}),
        ({"n": "3.5"}, set()),
        ({"flag": True}, {"true"}),
        ({"flag": 1}, {"one"}),
        ({"flag": False}, set()),
        ({"flag": 0}, {"zero"}),
        ({"flag": "True"}, set()),
        ({"p": "50%"}, {"pct"}),
        ({"p": "%"}, set()),
        ({"p": "50_"}, set()),
        ({"u": "a_c"}, {"under"}),
        ({"u": "a%"}, set()),
        ({"u": "ABC"}, set()),
        ({"n": 3, "u": "abc"}, {"both"}),
        ({"n": 3, "u": "a_c"}, set()),
        ({"missing": 1}, set()),
    ]
    for filters, names in cases:
        got = set(ids(await arts.list(filters=filters)))
        assert got == {saved[n].artifact_id for n in names}, filters
    for bad in ({"n": [3]}, {"n": None}, {"n": {"a": 1}}, {"n": float("nan")}):
        with pytest.raises(ValidationError):
            await arts.list(filters=bad)


async def test_results_are_newest_first_and_limited(arts):
    saved = [await arts.save_text(f"item {i}") for i in range(5)]
    newest_first = list(reversed(ids(saved)))
    assert ids(await arts.list()) == newest_first
    assert ids(await arts.list(limit=2)) == newest_first[:2]
    assert ids(await arts.list(limit=10)) == newest_first
    assert await arts.list(limit=0) == []
    listed = await arts.list()
    assert [a.created_at for a in listed] == sorted((a.created_at for a in listed), reverse=True)
    assert listed[0] == await arts.get_by_id(listed[0].artifact_id)
    for bad in (-1, 1.5, "2"):
        with pytest.raises(ValidationError):
            await arts.list(limit=bad)


# -- runs -----------------------------------------------------------------------------------


async def test_fresh_run_is_done_after_a_normal_close(context, open_context, facade_kind):
    with open_context(org_id="o1", user_id="u1") as ctx:
        a = await facade_of(ctx, facade_kind).save_text("x")
        run_id = ctx.run_id
        assert run_status(context, run_id) == "running"
    assert run_id != context.run_id
    assert a.run_id == run_id
    assert run_status(context, run_id) == "done"
    run = store_of(context).get_run(run_id)
    assert run.ended_at is not None
    # Remote, "o1"/"u1" name a real org and user: the context carries their ids.
    assert ctx.info.org_id is not None and ctx.info.user_id is not None
    assert (run.org_id, run.user_id) == (ctx.info.org_id, ctx.info.user_id)

    async with open_context() as actx:
        await facade_of(actx, facade_kind).save_text("y")
        async_run = actx.run_id
    assert run_status(context, async_run) == "done"

    # Two fresh contexts get two different runs.
    assert async_run != run_id


async def test_fresh_run_is_failed_when_its_block_raises(context, open_context, facade_kind):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), open_context() as ctx:
        await facade_of(ctx, facade_kind).save_text("x")
        run_id = ctx.run_id
        raise Boom
    assert run_status(context, run_id) == "failed"

    with pytest.raises(Boom):
        async with open_context() as actx:
            await facade_of(actx, facade_kind).save_text("y")
            async_run = actx.run_id
            raise Boom
    assert run_status(context, async_run) == "failed"


async def test_given_run_is_left_running_unless_finished(context, open_context, facade_kind):
    with open_context(run_id="given-run") as ctx:
        await facade_of(ctx, facade_kind).save_text("x")
    assert run_status(context, "given-run") == "running"

    class Boom(Exception):
        pass

    with pytest.raises(Boom), open_context(run_id="given-run") as ctx:
        await facade_of(ctx, facade_kind).save_text("y")
        raise Boom
    assert run_status(context, "given-run") == "running"

    with open_context(run_id="given-run") as ctx:
        ctx.finish_run("done")
    assert run_status(context, "given-run") == "done"

    with open_context(run_id="finished-failed") as ctx:
        await facade_of(ctx, facade_kind).save_text("z")
        ctx.finish_run("failed")
    assert run_status(context, "finished-failed") == "failed"


def leftover_temp_files(context: satchel.Context) -> list[Any]:
    """Temporary blob files left behind (only a local blob store has them)."""
    blobs = store_of(context).blobs
    return list(blobs.iter_temp_files()) if isinstance(blobs, LocalBlobStore) else []


async def test_writer_scope_conflict_found_at_exit_leaves_nothing_behind(
    context, open_context, facade_kind
):
    scoped = open_context(**fields_of(context, run_id="r-scoped"), scope={"project": "p1"})
    arts = facade_of(scoped, facade_kind)
    payload = b"y" * (store_of(context).settings.inline_max * 3)
    for how in ("argument", "add_labels"):
        with pytest.raises(InvalidMetadataError):
            async with arts.writer(
                kind="log", labels={"project": "p2"} if how == "argument" else None
            ) as w:
                await w.write(payload)
                if how == "add_labels":
                    w.add_labels({"project": "p2"})
        assert leftover_temp_files(context) == [], how
    assert await arts.list(level="scope") == []
    assert await arts.list(level="run") == []


async def test_scope_conflict_is_typed(open_context, facade_kind):
    ctx = open_context(run_id="typed-scope", scope={"flag": 1})
    arts = facade_of(ctx, facade_kind)
    with pytest.raises(satchel.InvalidMetadataError):
        await arts.save_text("x", labels={"flag": True})
    assert (await arts.save_text("y", labels={"flag": 1.0})).labels["flag"] == 1
