"""seeds/000's Example Workflow in a real browser, on both backend pairs: open Artifacts, filter
"Shared by another organisation", select an artifact, download a file; the bytes downloaded
are the bytes saved. On S3 the download link redirects to a presigned URL of the bucket.
Also on both pairs: a download keeps its file's name, and no page shows where the bytes are."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from .conftest import Portal, apply_filter, listed_ids, log_in, shot

BACKENDS = pytest.mark.parametrize("backend", ["local", "s3+postgres"])


def world_of(backend: str, request: pytest.FixtureRequest) -> Portal:
    world: Portal = request.getfixturevalue("portal" if backend == "local" else "s3_portal")
    return world


@BACKENDS
def test_example_workflow(backend: str, page: Page, request: pytest.FixtureRequest) -> None:
    world = world_of(backend, request)
    log_in(page, world, "alice")

    # Open Artifacts (the navigation menu's link).
    with page.expect_navigation():
        page.get_by_role("link", name="Artifacts", exact=True).first.click()
    assert page.url.split("?")[0] == world.at("/artifacts")
    assert listed_ids(page) == world.expected("alice")

    # Filter by "Shared by another organisation".
    label = page.get_by_label("Shared by another organisation")
    assert label.count() == 1, "no checkbox labelled 'Shared by another organisation'"
    apply_filter(page, "#filters input[name=origin][value=shared]")
    assert "origin=shared" in page.url
    assert page.locator("#filters input[name=origin][value=shared]").is_checked()
    assert listed_ids(page) == world.expected("alice", ("shared",))

    # Select an artifact to view its details.
    chosen = world.id("c-ckpt")
    with page.expect_navigation():
        page.locator(f'tr[data-artifact-id="{chosen}"] a').first.click()
    assert page.url == world.at(f"/artifacts/{chosen}")
    assert page.locator("h1").inner_text().strip() == "borealis-segmentation-unet"
    shot(page, f"workflow-details-{backend.replace('+', '-')}")

    # Download the file: the bytes are the original's.
    row = page.locator('table#files tr[data-path="weights.bin"]')
    assert row.count() == 1
    with page.expect_download() as info:
        row.locator("a.download").click()
    download = info.value
    assert download.failure() is None
    saved = Path(download.path()).read_bytes()
    assert saved == world.specs["c-ckpt"].files["weights.bin"]


@BACKENDS
def test_a_download_is_named_after_its_file(
    backend: str, page: Page, request: pytest.FixtureRequest
) -> None:
    """The saved file keeps its name, wherever the server keeps the bytes (on S3 the link
    redirects to a presigned URL of the bucket, whose key is a digest)."""
    world = world_of(backend, request)
    log_in(page, world, "alice", f"/artifacts/{world.id('c-ckpt')}")
    with page.expect_download() as info:
        page.locator('tr[data-path="weights.bin"] a.download').click()
    assert Path(info.value.path()).read_bytes() == world.specs["c-ckpt"].files["weights.bin"]
    assert info.value.suggested_filename == "weights.bin"


@BACKENDS
def test_details_never_show_where_the_bytes_are(
    backend: str, page: Page, request: pytest.FixtureRequest
) -> None:
    """docs/api.md: an artifact's ``uri`` is ``satchel://<id>``; where the server keeps the
    bytes (a path on its disk, a bucket key) is never shown."""
    world = world_of(backend, request)
    log_in(page, world, "alice")
    for key in ("a-ckpt", "a-log", "c-ckpt", "c-result"):
        aid = world.id(key)
        page.goto(world.at(f"/artifacts/{aid}"))
        html = page.content()
        for secret in ("file://", "s3://", "/blobs/sha256/", world.store_root):
            assert secret not in html, f"the details page of {key} shows {secret!r}"
        details = page.locator("dl#details").inner_text()
        if "URI" in details:
            assert f"satchel://{aid}" in details
