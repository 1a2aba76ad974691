"""A user never sees another organisation's unshared artifact anywhere in the pages: carol's
canary (a distinctive name) is in no list with any filters, no search, no runs page, and its
details URL is the 404 page. ``test_carol_sees_her_own_canary`` is the positive control."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from .conftest import CANARY_NAME, KINDS, ORIGINS, Portal, artifacts_url, listed_ids

AsUser = Callable[..., Page]

ORIGIN_SETS = [c for n in range(len(ORIGINS) + 1) for c in itertools.combinations(ORIGINS, n)]
KIND_SETS = [(), *[(k,) for k in KINDS], KINDS]


def assert_no_canary(html: str, world: Portal, where: str) -> None:
    canary = world.id("c-canary")
    assert CANARY_NAME not in html, f"the canary's name is on {where}"
    assert canary not in html, f"the canary's id is on {where}"
    assert "borealis internal only" not in html, f"the canary's content is on {where}"


def html_of(page: Page, url: str) -> str:
    """A page's HTML as the browser's session gets it (the matrix is too long to render
    every page: the server renders them all, the browser would only draw them)."""
    response = page.request.get(url)
    assert response.status == 200, f"{url}: {response.status}"
    return response.text()


def ids_in(html: str) -> set[str]:
    return set(re.findall(r'data-artifact-id="([^"]+)"', html))


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_canary_in_no_list(portal: Portal, as_user: AsUser, who: str) -> None:
    page = as_user(who)
    canary = portal.id("c-canary")
    for origins in ORIGIN_SETS:  # rendered in the browser, every page of the list
        page.goto(artifacts_url(portal, origins))
        where = f"/artifacts with origin={origins}"
        assert canary not in listed_ids(page), where
        assert_no_canary(page.content(), portal, where)
    for origins, kinds in itertools.product(ORIGIN_SETS, KIND_SETS):
        where = f"/artifacts with origin={origins} kind={kinds}"
        html = html_of(page, artifacts_url(portal, origins, kinds))
        assert ids_in(html) == portal.expected(who, origins, kinds), where
        assert_no_canary(html, portal, where)


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_canary_in_no_search(portal: Portal, as_user: AsUser, who: str) -> None:
    page = as_user(who)
    canary = portal.id("c-canary")
    for text in (CANARY_NAME, canary, canary[-12:], "canary", "zz-canary-borealis", "secret.txt"):
        for origins in ORIGIN_SETS:
            where = f"a search for {text!r} with origin={origins}"
            html = html_of(page, artifacts_url(portal, origins, q=text))
            assert canary not in ids_in(html), where
            html = html.replace(text, "")  # the search box echoes the query
            assert CANARY_NAME not in html and canary not in html, where
    page.goto(artifacts_url(portal, q=CANARY_NAME))  # and once in the browser
    assert canary not in listed_ids(page)


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_canary_details_url_is_the_not_found_page(
    portal: Portal, as_user: AsUser, who: str
) -> None:
    page = as_user(who)
    canary = portal.id("c-canary")
    response = page.goto(portal.at(f"/artifacts/{canary}"))
    assert response is not None and response.status == 404
    assert "Artifact not found" in page.content()
    assert CANARY_NAME not in page.content()
    # The same answer as an id that never existed: nothing tells the two apart.
    unknown = page.goto(portal.at("/artifacts/01AAAAAAAAAAAAAAAAAAAAAAAA"))
    assert unknown is not None and unknown.status == 404
    assert "Artifact not found" in page.content()
    download = page.request.get(
        portal.at(f"/artifacts/{canary}/download/secret.txt"), max_redirects=0
    )
    assert download.status == 404
    assert b"borealis internal only" not in download.body()


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_canary_on_no_runs_page(portal: Portal, as_user: AsUser, who: str) -> None:
    page = as_user(who)
    page.goto(portal.at("/runs"))
    assert_no_canary(page.content(), portal, "/runs")
    rows = page.locator("table#runs tr[data-run-id]")
    run_ids = set(rows.evaluate_all("rows => rows.map(r => r.dataset.runId)"))
    run_ids |= {"acme-lr-sweep-0", "acme-lr-sweep-1"}  # experiments, linked under their parent
    assert "acme-lr-sweep" in run_ids, "the runs list shows the user's own organisation's runs"
    assert not any(r and r.startswith("borealis") for r in run_ids), run_ids
    for run_id in [*sorted(r for r in run_ids if r), "borealis-unet", "borealis-unet-0"]:
        page.goto(portal.at(f"/runs/{run_id}"))
        assert_no_canary(page.content(), portal, f"/runs/{run_id}")
