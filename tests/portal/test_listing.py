"""The artifacts list: creator and type filters (alone and combined), paging, the fuzzy
search box, and the rule that nothing another org did not share shows anywhere."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import pytest
from portalkit import log_in, row_ids

from satchel.portal.listing import PAGE
from serverkit import World, create

KINDS = ("checkpoint", "metric", "log", "result")


@dataclass
class Seeded:
    """Who made what: ids by (maker, kind), and the special ones."""

    world: World
    ids: dict[tuple[str, str], str] = field(default_factory=dict)
    shared_org: str = ""  # carol's, granted to org a
    shared_email: str = ""  # carol's, granted to bob's email only
    canary: str = ""  # carol's, shared with nobody
    pending: str = ""  # alice's, its file never uploaded
    names: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def seeded(world: World) -> Seeded:
    world.member("alice", "a", role="admin")
    world.member("bob", "a")
    world.member("carol", "b")
    s = Seeded(world)
    for who in ("alice", "bob", "carol"):
        async with world.client(who) as api:
            for kind in KINDS:
                name = f"{who}-{kind}-report"
                made = await create(api, {f"{kind}.txt": name.encode()}, name=name, kind=kind)
                s.ids[(who, kind)] = made["artifact_id"]
                s.names[made["artifact_id"]] = name
    async with world.client("carol") as api:
        made = await create(api, {"w.bin": b"weights"}, name="globex-weights", kind="checkpoint")
        s.shared_org = made["artifact_id"]
        grant = {"org_id": world.orgs["a"]}
        assert (await api.post(f"/api/v1/artifacts/{s.shared_org}/grants", json=grant)).is_success
        made = await create(api, {"d.csv": b"a,b\n"}, name="globex-survey", kind="dataset")
        s.shared_email = made["artifact_id"]
        grant = {"email": world.members["bob"].email}
        assert (await api.post(f"/api/v1/artifacts/{s.shared_email}/grants", json=grant)).is_success
        made = await create(
            api, {"s.txt": b"secret"}, name="zanzibar-canary-secret", kind="secretkind"
        )
        s.canary = made["artifact_id"]
    async with world.client("alice") as api:
        made = await create(api, {"big.bin": b"x" * 5000}, inline=False, name="alice-uploading")
        s.pending = made["artifact_id"]
    return s


async def _rows(client: httpx.AsyncClient, **params: object) -> list[str]:
    answer = await client.get(f"/artifacts?{urlencode(params, doseq=True)}")
    assert answer.status_code == 200, answer.text
    return row_ids(answer.text)


def _of(s: Seeded, who: str | tuple[str, ...], kinds: tuple[str, ...] = KINDS) -> set[str]:
    people = (who,) if isinstance(who, str) else who
    return {s.ids[(p, k)] for p in people for k in kinds}


async def test_each_creator_filter_alone_and_combined(seeded: Seeded) -> None:
    s = seeded
    async with s.world.client() as bob:
        await log_in(s.world, "bob", bob)
        mine, org, shared = _of(s, "bob"), _of(s, ("alice", "bob")), {s.shared_org, s.shared_email}
        assert set(await _rows(bob)) == org | shared
        assert set(await _rows(bob, origin="mine")) == mine
        assert set(await _rows(bob, origin="org")) == org
        assert set(await _rows(bob, origin="shared")) == shared
        assert set(await _rows(bob, origin=["mine", "shared"])) == mine | shared
        assert set(await _rows(bob, origin=["org", "shared"])) == org | shared
    async with s.world.client() as alice:
        await log_in(s.world, "alice", alice)
        # Alice's org was granted one of carol's; the email grant was bob's alone. Her own
        # pending artifact shows to her (mine, and her org's), never as shared.
        assert set(await _rows(alice, origin="shared")) == {s.shared_org}
        assert set(await _rows(alice, origin="mine")) == _of(s, "alice") | {s.pending}
        assert s.pending in await _rows(alice, origin="org")


async def test_type_filter_takes_several_kinds_and_combines_with_creator(seeded: Seeded) -> None:
    s = seeded
    async with s.world.client() as bob:
        await log_in(s.world, "bob", bob)
        assert set(await _rows(bob, kind="log")) == _of(s, ("alice", "bob"), ("log",))
        both = ("checkpoint", "result")
        assert set(await _rows(bob, kind=list(both))) == _of(s, ("alice", "bob"), both) | {
            s.shared_org
        }
        assert set(await _rows(bob, kind="checkpoint", origin="shared")) == {s.shared_org}
        assert set(await _rows(bob, kind=["metric", "dataset"], origin=["mine", "shared"])) == (
            _of(s, "bob", ("metric",)) | {s.shared_email}
        )
        assert await _rows(bob, kind="nonexistent") == []
        page = await bob.get("/artifacts?kind=nonexistent")
        assert 'id="empty"' in page.text and "Nothing matches" in page.text


async def test_the_type_filter_offers_only_kinds_the_reader_can_see(seeded: Seeded) -> None:
    s = seeded
    async with s.world.client() as bob:
        await log_in(s.world, "bob", bob)
        page = (await bob.get("/artifacts")).text
        for kind in (*KINDS, "dataset"):
            assert f'name="kind" value="{kind}"' in page
        assert "secretkind" not in page  # only carol's unshared canary has it
    async with s.world.client() as carol:
        await log_in(s.world, "carol", carol)
        assert 'name="kind" value="secretkind"' in (await carol.get("/artifacts")).text


async def test_filters_live_in_the_url(seeded: Seeded) -> None:
    s = seeded
    async with s.world.client() as bob:
        await log_in(s.world, "bob", bob)
        page = (await bob.get("/artifacts?origin=shared&kind=checkpoint&kind=dataset")).text
        assert 'name="origin" value="shared" checked' in page
        assert 'name="kind" value="checkpoint" checked' in page
        assert 'name="kind" value="dataset" checked' in page
        assert 'name="origin" value="mine" checked' not in page
        bad = await bob.get("/artifacts?origin=everything")
        assert bad.status_code == 422
        assert "unknown creator filter" in bad.text


async def test_search_finds_a_partial_id_and_a_name_with_a_typo(seeded: Seeded) -> None:
    s = seeded
    target = s.ids[("alice", "checkpoint")]
    async with s.world.client() as bob:
        await log_in(s.world, "bob", bob)
        assert (await _rows(bob, q=target[-9:]))[0] == target
        assert (await _rows(bob, q=target[:14].lower()))[0] == target
        assert (await _rows(bob, q="globex-wieghts"))[0] == s.shared_org  # a typo
        found = await _rows(bob, q="chekpoint")  # a typo in the type
        assert set(found) >= _of(s, ("alice", "bob"), ("checkpoint",))
        assert set(await _rows(bob, q="report", kind="metric")) == _of(
            s, ("alice", "bob"), ("metric",)
        )
        assert await _rows(bob, q="report", origin="shared") == []
        empty = await bob.get("/artifacts?q=qqqqxxxxzzzz")
        assert "Nothing matches" in empty.text


async def test_search_by_status_lists_the_callers_pending_artifacts(seeded: Seeded) -> None:
    s = seeded
    async with s.world.client() as alice:
        await log_in(s.world, "alice", alice)
        assert await _rows(alice, q="pending") == [s.pending]
        assert await _rows(alice, q="pendng") == [s.pending]  # fuzzy here too
        assert s.pending not in await _rows(alice, q="completed")
    async with s.world.client() as bob:
        await log_in(s.world, "bob", bob)
        assert await _rows(bob, q="pending") == []  # pending is its creator's alone
        assert s.pending not in await _rows(bob)


async def test_another_orgs_unshared_artifact_shows_nowhere(seeded: Seeded) -> None:
    s = seeded
    secret_name = "zanzibar-canary-secret"
    async with s.world.client() as alice:
        await log_in(s.world, "alice", alice)
        origins = [[], ["mine"], ["org"], ["shared"], ["mine", "org", "shared"]]
        kinds = [[], ["secretkind"], ["checkpoint", "secretkind"]]
        queries = [None, secret_name, "zanzibar", s.canary, s.canary[:12], "secretkind"]
        for origin, kind, q in itertools.product(origins, kinds, queries):
            params: dict[str, object] = {"origin": origin, "kind": kind}
            if q is not None:
                params["q"] = q
            page = await alice.get(f"/artifacts?{urlencode(params, doseq=True)}")
            assert page.status_code == 200
            # What the caller typed is echoed in the search box; nothing else may say it.
            text = page.text
            if q is not None:
                text = text.replace(f'value="{q}"', "").replace(f"“{q}”", "")
                text = text.replace(f"<strong>{q}</strong>", "")
            assert s.canary not in text, params
            assert secret_name not in text, params
            assert s.canary not in row_ids(page.text)
        for path in (f"/artifacts/{s.canary}", f"/preview/{s.canary}/s.txt"):
            page = await alice.get(path)
            assert page.status_code == 404
            assert secret_name not in page.text
        missing = await alice.get("/artifacts/01ZZZZZZZZZZZZZZZZZZZZZZZZ")
        hidden = await alice.get(f"/artifacts/{s.canary}")
        assert hidden.text.replace(s.canary, "X") == missing.text.replace(
            "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "X"
        )
        download = await alice.get(f"/artifacts/{s.canary}/download/s.txt")
        assert download.status_code == 404
        for path in ("/runs",):
            assert secret_name not in (await alice.get(path)).text


async def test_pages_are_newest_first_and_pages_neither_skip_nor_repeat(world: World) -> None:
    world.member("dora", "a")
    made: list[str] = []
    async with world.client("dora") as api:
        for i in range(PAGE + 25):
            kind = ("checkpoint", "log", "metric")[i % 3]
            made.append(
                (await create(api, {"f": str(i).encode()}, name=f"n{i}", kind=kind))["artifact_id"]
            )
        await create(api, {"p": b"x" * 10}, inline=False, name="pending-one", kind="log")
    async with world.client() as dora:
        await log_in(world, "dora", dora)
        for kinds in ([], ["checkpoint", "log"]):
            expected = [m for i, m in enumerate(made) if not kinds or i % 3 in (0, 1)]
            expected.reverse()  # newest first
            seen: list[str] = []
            url = f"/artifacts?{urlencode({'kind': kinds}, doseq=True)}"
            pages = 0
            while url:
                page = await dora.get(url)
                assert page.status_code == 200
                ids = row_ids(page.text)
                assert len(ids) <= PAGE
                seen += ids
                pages += 1
                nxt = page.text.split('id="next-page" href="', 1)
                url = nxt[1].split('"', 1)[0].replace("&amp;", "&") if len(nxt) == 2 else ""
            # The pending artifact (its creator's) is in the union, at its place in time.
            assert len(seen) == len(set(seen))
            assert [i for i in seen if i in set(made)] == expected
            assert len(seen) == len(expected) + 1
            assert pages == 2
