"""How the pages work for a person: at 1,280 px and at phone width, by keyboard alone, with
no request leaving the server's own origin, and the screenshots the README shows."""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request

from .conftest import PHONE, ROOT, SHOTS, WIDE, Portal, listed_ids, shot

AsUser = Callable[..., Page]
#: The screenshots the README shows (``SATCHEL_UPDATE_SCREENSHOTS=1`` refreshes them).
README_SHOTS = {
    "artifacts-shared": ROOT / "docs" / "img" / "portal-list.png",
    "details": ROOT / "docs" / "img" / "portal-details.png",
}


def overflow(page: Page) -> int:
    """How many pixels the page is wider than the viewport (0: no horizontal scrolling)."""
    return int(
        page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - window.innerWidth"
        )
    )


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1280px", "390px"])
def test_pages_fit_the_width(portal: Portal, as_user: AsUser, viewport: dict[str, int]) -> None:
    page = as_user("alice", viewport)
    for path in (
        "/artifacts",
        "/artifacts?origin=shared",
        f"/artifacts/{portal.id('a-ckpt')}",
        f"/artifacts/{portal.id('c-result')}",
        "/runs",
        "/runs/acme-lr-sweep",
    ):
        page.goto(portal.at(path))
        assert overflow(page) <= 0, f"{path} scrolls sideways at {viewport['width']} px"
    page.goto(portal.at("/artifacts"))
    assert listed_ids(page) == portal.expected("alice")
    chosen = portal.id("c-ckpt")
    link = page.locator(f'tr[data-artifact-id="{chosen}"] a').first
    link.scroll_into_view_if_needed()
    assert link.is_visible()
    box = link.bounding_box()
    assert box is not None and box["width"] >= 20 and box["height"] >= 10, box
    with page.expect_navigation():
        link.click()
    assert page.url == portal.at(f"/artifacts/{chosen}")
    download = page.locator('tr[data-path="weights.bin"] a.download')
    download.scroll_into_view_if_needed()
    assert download.is_visible()
    name = "phone" if viewport is PHONE else "wide"
    shot(page, f"details-{name}")


def test_keyboard_reaches_search_filters_and_rows(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(portal.at("/artifacts"))
    page.locator("body").focus()
    reached: list[str] = []
    row_link_steps = -1
    for step in range(200):
        page.keyboard.press("Tab")
        what = page.evaluate(
            """() => {
                const e = document.activeElement;
                if (!e || e === document.body) return '';
                const row = e.closest('tr[data-artifact-id]');
                if (e.closest('#search') && e.name === 'q') return 'search';
                if (e.closest('#filters') && e.name) return e.name + '=' + e.value;
                if (row && e.tagName === 'A') return 'row:' + row.dataset.artifactId;
                return e.tagName;
            }"""
        )
        reached.append(what)
        if what.startswith("row:"):
            row_link_steps = step
            break
    assert "search" in reached, f"Tab never reached the search box: {reached}"
    for value in ("origin=mine", "origin=org", "origin=shared", "kind=checkpoint"):
        assert value in reached, f"Tab never reached the filter {value}: {reached}"
    assert row_link_steps >= 0, f"Tab never reached a row link: {reached}"
    target = reached[-1].removeprefix("row:")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == portal.at(f"/artifacts/{target}")


def test_no_request_leaves_the_origin(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    requests: list[str] = []

    def seen(request: Request) -> None:
        requests.append(request.url)

    page.context.on("request", seen)
    own = urlsplit(portal.url)
    for path in (
        "/login",
        "/artifacts",
        "/artifacts?origin=shared&kind=result",
        f"/artifacts/{portal.id('c-result')}",  # previews: iframes and an image
        f"/artifacts/{portal.id('a-ckpt')}",
        "/runs",
        "/runs/acme-lr-sweep",
    ):
        page.goto(portal.at(path))  # waits for the load event: frames and images too
    assert len(requests) >= 7
    foreign = [
        url
        for url in requests
        if not url.startswith(("data:", "blob:", "about:"))
        and (urlsplit(url).scheme, urlsplit(url).netloc) != (own.scheme, own.netloc)
    ]
    assert foreign == [], f"requests to other origins: {foreign}"


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_screenshots_of_list_and_details(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(portal.at("/artifacts"))
    assert listed_ids(page)
    made = {"artifacts": shot(page, "artifacts")}
    page.goto(portal.at("/artifacts?origin=shared"))  # the README's: seeds/000's workflow
    assert listed_ids(page) == portal.expected("alice", ("shared",))
    made["artifacts-shared"] = shot(page, "artifacts-shared")
    page.goto(portal.at(f"/artifacts/{portal.id('c-result')}"))
    made["details"] = shot(page, "details")
    phone = as_user("alice", PHONE)
    phone.goto(portal.at("/artifacts"))
    made["artifacts-phone"] = shot(phone, "artifacts-phone")
    for path in made.values():
        assert path.parent == SHOTS
        assert _png_size(path)[0] in (WIDE["width"], PHONE["width"])
    if os.environ.get("SATCHEL_UPDATE_SCREENSHOTS") == "1":
        for name, target in README_SHOTS.items():
            shutil.copyfile(made[name], target)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in README_SHOTS.values():
        relative = target.relative_to(ROOT).as_posix()
        assert f"]({relative})" in readme, f"README.md does not show {relative}"
        assert _png_size(target)[0] == WIDE["width"], f"{relative} is not a 1,280 px page"
