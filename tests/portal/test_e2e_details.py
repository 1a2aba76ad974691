"""The details page: its contents, previews, a pending file, downloads (a non-ASCII file
name), and a signed link that has expired."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page

from .conftest import NON_ASCII_FILE, Portal

AsUser = Callable[..., Page]


def digits(text: str) -> str:
    """Text without thousands separators (``40,000``, ``40 000``, ``40.000``)."""
    return re.sub(r"[,.'\u00a0\u202f ]", "", text)


def test_details_page_contents(portal: Portal, as_user: AsUser) -> None:
    aid = portal.id("a-ckpt")
    page = as_user("alice")
    response = page.goto(portal.at(f"/artifacts/{aid}"))
    assert response is not None and response.status == 200
    assert page.locator("h1").inner_text().strip() == "resnet50-epoch3"

    details = page.locator("dl#details").inner_text()
    for expected in ("checkpoint", "completed", aid, "resnet50"):
        assert expected in details, f"{expected!r} not in the details list"
    assert "acme-lr-sweep-0" in details or "lr 1e-3" in details, "its run is not shown"
    assert page.locator('dl#details a[href="/runs/acme-lr-sweep-0"]').count() == 1
    assert "Alice Archer" in details or "alice@acme.example" in details, "creator missing"

    metrics = page.locator("table#metrics").inner_text()
    assert "loss" in metrics and "0.173" in metrics
    labels = page.locator("table#labels").inner_text()
    for expected in ("epoch", "3", "optimizer", "adamw"):
        assert expected in labels

    row = page.locator('table#files tr[data-path="model.ckpt"]')
    assert row.count() == 1
    text = row.inner_text()
    assert "40000" in digits(text) or re.search(r"39\.1\s*KiB|40(\.0)?\s*kB", text), text
    assert "completed" in text.lower()
    link = row.locator("a.download")
    assert link.get_attribute("href") == f"/artifacts/{aid}/download/model.ckpt"
    signed = page.request.get(portal.at(f"/artifacts/{aid}/download/model.ckpt"), max_redirects=0)
    assert signed.status == 303
    assert "/api/v1/links/" in signed.headers["location"]
    copy = row.locator("button.copy-link")
    assert "/api/v1/links/" in (copy.get_attribute("data-url") or "")
    expires = int(row.locator(".expires").get_attribute("data-expires") or 0)
    assert time.time() < expires <= time.time() + 7 * 86400 + 60
    assert row.locator(".expires").inner_text().strip(), "the expiry is not shown"


def test_pending_artifact_is_listed_for_its_creator_as_pending(
    portal: Portal, as_user: AsUser
) -> None:
    page = as_user("alice")
    page.goto(portal.at("/artifacts"))
    row = page.locator(f'tr[data-artifact-id="{portal.id("a-pending")}"]')
    assert row.count() == 1
    assert "pending" in row.inner_text()
    bob = as_user("bob")
    bob.goto(portal.at("/artifacts"))
    assert portal.id("a-pending") not in bob.content()
    assert "resnet50-final" not in bob.content()


def test_copy_link_is_a_working_signed_link(portal: Portal, as_user: AsUser) -> None:
    aid = portal.id("a-metric")
    page = as_user("alice")
    page.goto(portal.at(f"/artifacts/{aid}"))
    url = page.locator('tr[data-path="metrics.json"] button.copy-link').get_attribute("data-url")
    assert url
    fetched = page.request.get(url if url.startswith("http") else portal.at(url))
    assert fetched.status == 200
    assert fetched.body() == portal.specs["a-metric"].files["metrics.json"]


def test_previews_of_text_json_csv_and_an_image(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(portal.at(f"/artifacts/{portal.id('c-result')}"))
    previews = page.locator("#previews")
    assert previews.count() == 1
    image = previews.locator("img")
    assert image.count() >= 1
    image.first.wait_for()
    width = image.first.evaluate("img => img.complete ? img.naturalWidth : 0")
    assert width == 24, "the PNG preview did not load"
    texts = []
    frames = previews.locator("iframe")
    assert frames.count() >= 3, "text, JSON and CSV previews expected"
    for i in range(frames.count()):
        src = frames.nth(i).get_attribute("src") or ""
        assert src.startswith("/preview/") or src.startswith(portal.at("/preview/")), src
        frame = frames.nth(i).element_handle().content_frame()
        assert frame is not None
        frame.wait_for_load_state()
        texts.append(frame.locator("body").inner_text())
    joined = "\n".join(texts)
    for expected in ("fold 0 iou 0.83", "0.82", "liver"):
        assert expected in joined, f"{expected!r} not in any preview"


def test_pending_file_shows_status_and_no_download(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    response = page.goto(portal.at(f"/artifacts/{portal.id('a-pending')}"))
    assert response is not None and response.status == 200
    row = page.locator('table#files tr[data-path="final.ckpt"]')
    assert row.count() == 1
    assert "pending" in row.inner_text().lower()
    assert row.locator("a.download").count() == 0
    assert row.locator("button.copy-link").count() == 0


def test_pending_artifact_is_hidden_from_colleagues(portal: Portal, as_user: AsUser) -> None:
    page = as_user("bob")
    response = page.goto(portal.at(f"/artifacts/{portal.id('a-pending')}"))
    assert response is not None and response.status == 404
    assert "Artifact not found" in page.content()


def test_non_ascii_file_downloads_with_its_name(portal: Portal, as_user: AsUser) -> None:
    page = as_user("bob")  # granted by email
    page.goto(portal.at(f"/artifacts/{portal.id('c-dataset')}"))
    row = page.locator(f'table#files tr[data-path="{NON_ASCII_FILE}"]')
    assert row.count() == 1
    assert NON_ASCII_FILE in row.inner_text()
    with page.expect_download() as info:
        row.locator("a.download").click()
    download = info.value
    assert download.suggested_filename == NON_ASCII_FILE
    saved = Path(download.path()).read_bytes()
    assert saved == portal.specs["c-dataset"].files[NON_ASCII_FILE]


def test_an_expired_link_says_so(portal: Portal, as_user: AsUser) -> None:
    aid = portal.id("a-log")
    with portal.api("alice") as http:
        made = http.post(f"/api/v1/artifacts/{aid}/links", json={"expires_in": 1})
        assert made.status_code == 201, made.text
        url = made.json()["url"]
        expiry = int(re.search(r"[?&]e=(\d+)", url).group(1))  # type: ignore[union-attr]
    time.sleep(max(0.0, expiry - time.time()) + 1.1)
    page = as_user("alice")
    response = page.goto(url)
    assert response is not None and response.status == 403
    assert "This link has expired" in page.locator("h1").inner_text()
    assert portal.specs["a-log"].files["train.log"].decode() not in page.content()
