"""The runs view: the organisation's runs, a run's experiments (child runs) and its
artifacts."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page

from .conftest import RUNS, Portal, listed_ids

AsUser = Callable[..., Page]


def run_ids(page: Page, selector: str = "table#runs tr[data-run-id]") -> set[str]:
    return set(page.locator(selector).evaluate_all("rows => rows.map(r => r.dataset.runId)"))


def test_runs_list_shows_the_organisations_runs(portal: Portal, as_user: AsUser) -> None:
    page = as_user("bob")
    response = page.goto(portal.at("/runs"))
    assert response is not None and response.status == 200
    # Top-level runs are the rows; experiments (child runs) are linked under their parent.
    top = {r for who, r, _, parent in RUNS if portal.people[who].org == "a" and not parent}
    assert run_ids(page) == top
    children = {r for who, r, _, parent in RUNS if parent in top}
    for child in children:
        assert page.locator(f'a[href="/runs/{child}"]').count() >= 1, f"{child} not linked"
    assert "running" in page.locator('table#runs tr[data-run-id="acme-lr-sweep"]').inner_text()
    page.goto(portal.at("/runs/acme-lr-sweep-0"))
    assert "done" in page.locator("body").inner_text()


def test_run_details_show_experiments_and_artifacts(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(portal.at("/runs"))
    with page.expect_navigation():
        page.locator('table#runs tr[data-run-id="acme-lr-sweep"] a').first.click()
    assert page.url == portal.at("/runs/acme-lr-sweep")
    text = page.locator("body").inner_text()
    assert "learning-rate sweep" in text
    children = page.locator('a[href="/runs/acme-lr-sweep-0"], a[href="/runs/acme-lr-sweep-1"]')
    assert children.count() >= 2, "the experiments (child runs) are not linked"
    assert listed_ids(page) == {portal.id("a-result")}

    with page.expect_navigation():
        page.locator('a[href="/runs/acme-lr-sweep-0"]').first.click()
    assert "acme-lr-sweep" in page.locator("body").inner_text()  # its parent
    assert listed_ids(page) == {portal.id("a-ckpt"), portal.id("a-metric")}


def test_a_shared_artifact_in_another_orgs_run(portal: Portal, as_user: AsUser) -> None:
    """carol's run is not alice's to browse; the artifact shared from it still opens."""
    page = as_user("alice")
    response = page.goto(portal.at("/runs/borealis-unet-0"))
    assert response is not None and response.status == 404
    page.goto(portal.at(f"/artifacts/{portal.id('c-ckpt')}"))
    assert page.locator("h1").inner_text().strip() == "borealis-segmentation-unet"
