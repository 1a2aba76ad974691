"""The details page, downloads through signed links, previews on a sandboxed path, the
read-only sharing section, the runs view, and pages for errors people understand."""

from __future__ import annotations

import html
import re
import time
from urllib.parse import quote

import pytest
from portalkit import log_in

from serverkit import World, create, state_of

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20)
HOSTILE = b"<script>alert('x')</script><img src=x onerror=alert(1)>"


@pytest.fixture
async def made(world: World) -> dict[str, str]:
    world.member("alice", "a", role="admin")
    world.member("bob", "a")
    world.member("carol", "b")
    ids: dict[str, str] = {}
    async with world.client("alice") as api:
        run = {"run_id": "r-portal", "name": "sweep"}
        assert (await api.post("/api/v1/runs", json=run)).status_code == 201
        child = {"run_id": "r-portal-exp1", "name": "lr=0.1", "parent_run_id": "r-portal"}
        assert (await api.post("/api/v1/runs", json=child)).status_code == 201
        files = {
            "train.log": b"epoch 1\n" + HOSTILE,
            "données-été.csv": "ville,température\nNîmes,31\n".encode(),
            "metrics.json": b'{"acc": 0.9, "note": "</script>"}',
            "plot.png": PNG,
            "fake.png": b"<svg onload=alert(1)>",
            "model.bin": b"\x00" * 2048,
        }
        done = await create(
            api,
            files,
            name="résumé <b>model</b>",
            kind="checkpoint",
            run_id="r-portal-exp1",
            metrics={"accuracy": 0.913},
            labels={"experiment": "baseline", "lr": 0.1, "note": "<i>x</i>"},
            tags=["best"],
            model_id="resnet50",
            model_version="3",
        )
        ids["full"] = done["artifact_id"]
        grant = {"email": world.members["carol"].email}
        assert (await api.post(f"/api/v1/artifacts/{ids['full']}/grants", json=grant)).is_success
        pending = await create(
            api,
            {"done.txt": b"ok", "later.bin": b"y" * 4000},
            inline=False,
            name="half-uploaded",
        )
        ids["pending"] = pending["artifact_id"]
        sent = await api.put(
            f"/api/v1/artifacts/{ids['pending']}/uploads/done.txt",
            params={"offset": 0},
            content=b"ok",
        )
        assert sent.status_code == 200
    return ids


async def test_details_show_metadata_files_and_links(world: World, made: dict[str, str]) -> None:
    async with world.client() as bob:
        await log_in(world, "bob", bob)
        page = await bob.get(f"/artifacts/{made['full']}")
        assert page.status_code == 200
        text = page.text
        assert "résumé &lt;b&gt;model&lt;/b&gt;" in text  # escaped, never markup
        assert "<b>model</b>" not in text
        for shown in (
            made["full"],
            "checkpoint",
            "completed",
            world.members["alice"].email,
            "org-a",
            "resnet50 v3",
            "accuracy",
            "0.913",
            "baseline",
            "&lt;i&gt;x&lt;/i&gt;",
            "best",
            "lr=0.1",
        ):
            assert shown in text, shown
        rows = re.findall(r'<tr data-path="([^"]+)">', text)
        assert {html.unescape(r) for r in rows} == {
            "train.log",
            "données-été.csv",
            "metrics.json",
            "plot.png",
            "fake.png",
            "model.bin",
        }
        assert text.count('class="download button"') == 6
        assert text.count('class="copy-link"') == 6
        expiries = [int(e) for e in re.findall(r'data-expires="(\d+)"', text)]
        lifetime = state_of(world.app).settings.portal_link_expiry
        assert all(abs(e - (time.time() + lifetime)) < 60 for e in expiries)
        assert 'id="grants"' not in text  # bob reads it but does not manage it


async def test_a_copied_link_downloads_without_a_session(
    world: World, made: dict[str, str]
) -> None:
    async with world.client() as bob:
        await log_in(world, "bob", bob)
        page = (await bob.get(f"/artifacts/{made['full']}")).text
    pattern = r'<tr data-path="([^"]+)">.*?data-url="([^"]+)"'
    links = {
        html.unescape(p): html.unescape(u) for p, u in re.findall(pattern, page, flags=re.DOTALL)
    }
    url = links["données-été.csv"]
    async with world.client() as stranger:
        answer = await stranger.get(url)
        assert answer.status_code in (200, 307)
        if answer.status_code == 200:
            assert answer.content == "ville,température\nNîmes,31\n".encode()
            disposition = answer.headers["content-disposition"]
            assert "attachment" in disposition
            assert "filename*=UTF-8''donn%C3%A9es-%C3%A9t%C3%A9.csv" in disposition


async def test_the_download_button_redirects_to_a_fresh_link(
    world: World, made: dict[str, str]
) -> None:
    async with world.client() as bob:
        await log_in(world, "bob", bob)
        path = quote("données-été.csv")
        answer = await bob.get(f"/artifacts/{made['full']}/download/{path}")
        assert answer.status_code == 303
        assert "/api/v1/links/" in answer.headers["location"]
        followed = await bob.get(answer.headers["location"], follow_redirects=False)
        if followed.status_code == 307:  # S3: on to the bucket
            assert followed.headers["location"].startswith("http")
        else:
            assert followed.content == "ville,température\nNîmes,31\n".encode()


async def test_pending_files_show_their_status_and_offer_no_download(
    world: World, made: dict[str, str]
) -> None:
    async with world.client() as alice:
        await log_in(world, "alice", alice)
        page = (await alice.get(f"/artifacts/{made['pending']}")).text
        assert "still <strong>pending</strong>" in page
        assert 'class="download button"' not in page  # no file of it downloads yet
        assert re.search(r'data-path="later.bin">.*?status-pending', page, flags=re.DOTALL)
        refused = await alice.get(f"/artifacts/{made['pending']}/download/done.txt")
        assert refused.status_code == 409
        assert "still pending" in refused.text
    async with world.client() as bob:
        await log_in(world, "bob", bob)
        assert (await bob.get(f"/artifacts/{made['pending']}")).status_code == 404


async def test_previews_are_sandboxed_and_escaped(world: World, made: dict[str, str]) -> None:
    async with world.client() as bob:
        await log_in(world, "bob", bob)
        base = f"/preview/{made['full']}"
        log = await bob.get(f"{base}/train.log")
        assert log.status_code == 200
        assert log.headers["content-security-policy"].startswith("sandbox;")
        assert "script-src" not in log.headers["content-security-policy"]
        assert log.headers["x-content-type-options"] == "nosniff"
        assert "&lt;script&gt;" in log.text and "<script>" not in log.text
        table = await bob.get(f"{base}/{quote('données-été.csv')}")
        assert "<td>Nîmes</td>" in table.text
        data = await bob.get(f"{base}/metrics.json")
        assert "&#34;acc&#34;: 0.9" in data.text and "&lt;/script&gt;" in data.text
        image = await bob.get(f"{base}/plot.png")
        assert image.headers["content-type"] == "image/png"
        assert image.content == PNG
        assert image.headers["content-security-policy"].startswith("sandbox")
        # A file named .png that is not a PNG (here, SVG with script) is never served as one.
        assert (await bob.get(f"{base}/fake.png")).status_code == 404
        assert (await bob.get(f"{base}/model.bin")).status_code == 404
        page = (await bob.get(f"/artifacts/{made['full']}")).text
        assert f'<iframe sandbox src="{base}/train.log"' in page
        assert f'<img src="{base}/plot.png"' in page


async def test_the_owner_sees_grants_and_the_cli_commands(
    world: World, made: dict[str, str]
) -> None:
    async with world.client() as alice:
        await log_in(world, "alice", alice)
        page = (await alice.get(f"/artifacts/{made['full']}")).text
        assert 'id="grants"' in page
        assert world.members["carol"].email in page
        assert f"satchel artifacts grant -i {made['full']} -e" in page
        assert f"satchel artifacts revoke -i {made['full']} -a GRANT_ID" in page
        assert "<form" not in page.split('id="grants"', 1)[1]  # read-only: no form there


async def test_an_artifact_shared_by_email_shows_to_its_recipient(
    world: World, made: dict[str, str]
) -> None:
    async with world.client() as carol:
        await log_in(world, "carol", carol)
        page = (await carol.get(f"/artifacts/{made['full']}")).text
        assert "shared with you" in page
        runs = (await carol.get("/runs")).text
        assert "r-portal" not in runs  # the run is alice's org's, not carol's


async def test_an_expired_or_forged_link_says_so_in_a_browser(
    world: World, made: dict[str, str]
) -> None:
    async with world.client("alice") as api:
        link = await api.post(
            f"/api/v1/artifacts/{made['full']}/links", json={"path": "train.log", "expires_in": 1}
        )
        url = link.json()["url"]
    time.sleep(1.2)
    async with world.client() as browser:
        page = await browser.get(url, headers={"Accept": "text/html,application/xhtml+xml"})
        assert page.status_code == 403
        assert "<h1>This link has expired</h1>" in page.text
        forged = await browser.get(url.replace("&s=", "&s=A"), headers={"Accept": "text/html"})
        assert "<h1>This link is not valid</h1>" in forged.text
        api_client = await browser.get(url)
        assert api_client.json()["error"]["message"] == "this link has expired"


async def test_runs_view_lists_runs_experiments_and_their_artifacts(
    world: World, made: dict[str, str]
) -> None:
    async with world.client() as bob:
        await log_in(world, "bob", bob)
        runs = (await bob.get("/runs")).text
        assert '<tr data-run-id="r-portal">' in runs
        assert 'class="experiment" data-run-id="r-portal-exp1"' in runs
        assert 'r-portal-exp1"' in runs
        run = (await bob.get("/runs/r-portal-exp1")).text
        assert f'data-artifact-id="{made["full"]}"' in run
        assert "sweep" in run  # its parent, in the breadcrumbs
        parent = (await bob.get("/runs/r-portal")).text
        assert 'id="experiments"' in parent
        missing = await bob.get("/runs/no-such-run")
        assert missing.status_code == 404
        assert "<h1>Run not found</h1>" in missing.text


async def test_a_new_user_sees_an_empty_state(world: World) -> None:
    world.member("newbie", "fresh")
    async with world.client() as newbie:
        await log_in(world, "newbie", newbie)
        page = (await newbie.get("/artifacts")).text
        assert 'id="empty"' in page
        assert "No artifacts yet" in page
        assert "No runs yet" in (await newbie.get("/runs")).text
