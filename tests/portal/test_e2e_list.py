"""The artifacts list: each filter alone and combined, the search box (a partial id, a typo),
the empty state. Expected rows come from the seed (``Portal.expected``), not from the API."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from .conftest import (
    CANARY_NAME,
    KINDS,
    ORIGINS,
    Portal,
    apply_filter,
    artifacts_url,
    listed_ids,
)

AsUser = Callable[..., Page]

FILTERS = [
    *[((o,), ()) for o in ORIGINS],
    *[((), (k,)) for k in KINDS],
    (("mine", "shared"), ()),
    (("org",), ("checkpoint",)),
    (("shared",), ("metric", "result")),
    (("mine", "org", "shared"), ("log",)),
    (("mine",), ("checkpoint", "dataset")),
    ((), ("metric", "log", "result")),
]


def _name(value: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    origins, kinds = value
    return "+".join(origins) + "|" + "+".join(kinds)


@pytest.mark.parametrize("who", ["alice", "bob"])
@pytest.mark.parametrize("filters", FILTERS, ids=_name)
def test_filters_alone_and_combined(
    portal: Portal, as_user: AsUser, who: str, filters: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    origins, kinds = filters
    page = as_user(who)
    page.goto(artifacts_url(portal, origins, kinds))
    expected = portal.expected(who, origins, kinds)
    assert expected, "the seed should make every filter of this list non-empty"
    assert listed_ids(page) == expected
    for origin in ORIGINS:
        box = page.locator(f"#filters input[name=origin][value={origin}]")
        assert box.is_checked() == (origin in origins), f"origin {origin} checkbox"
    for kind in KINDS:
        box = page.locator(f"#filters input[name=kind][value={kind}]")
        assert box.is_checked() == (kind in kinds), f"kind {kind} checkbox"


def test_filter_labels_name_the_organisation(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(portal.at("/artifacts"))
    labels = {
        "mine": "Created by me",
        "org": "Created by Acme Research",
        "shared": "Shared by another organisation",
    }
    for value, text in labels.items():
        box = page.get_by_label(text, exact=True)
        assert box.count() == 1, f"no checkbox labelled {text!r}"
        assert box.get_attribute("value") == value


def test_filters_combined_by_clicking(portal: Portal, as_user: AsUser) -> None:
    page = as_user("bob")
    page.goto(portal.at("/artifacts"))
    apply_filter(page, "#filters input[name=origin][value=mine]")
    apply_filter(page, "#filters input[name=origin][value=shared]")
    apply_filter(page, "#filters input[name=kind][value=dataset]")
    expected = portal.expected("bob", ("mine", "shared"), ("dataset",))
    assert expected == {portal.id("b-dataset"), portal.id("c-dataset")}
    assert listed_ids(page) == expected


def search(page: Page, text: str) -> None:
    """Type into the header's search box and press Enter."""
    box = page.locator("#search input[name=q]")
    box.fill(text)
    with page.expect_navigation():
        box.press("Enter")


def test_search_by_partial_id(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(portal.at("/artifacts"))
    wanted = portal.id("c-result")
    search(page, wanted[-12:])  # the random part of the ULID
    assert "q=" in page.url
    found = listed_ids(page)
    assert wanted in found
    first = page.locator("table#artifacts tbody tr[data-artifact-id]").first
    assert first.get_attribute("data-artifact-id") == wanted


def test_search_by_full_id_and_name(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(portal.at("/artifacts"))
    wanted = portal.id("a-log")
    search(page, wanted)
    assert wanted in listed_ids(page)
    search(page, "train-stdout")
    assert wanted in listed_ids(page)


def test_search_with_a_typo(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(portal.at("/artifacts"))
    search(page, "segmentaton")  # segmentation, one letter missing
    found = listed_ids(page)
    for key in ("c-ckpt", "c-metric", "c-result"):
        assert portal.id(key) in found, f"{portal.specs[key].name} not found with a typo"
    search(page, "confsuion matrix")  # two letters swapped
    assert portal.id("a-result") in listed_ids(page)
    assert CANARY_NAME not in page.content()


def test_nothing_matches_shows_the_empty_state(portal: Portal, as_user: AsUser) -> None:
    page = as_user("alice")
    page.goto(artifacts_url(portal, q="qqqqxxxxzzzzjjjj"))
    assert listed_ids(page) == set()
    assert "Nothing matches" in page.locator("#empty").inner_text()


def test_carol_sees_her_own_canary(portal: Portal, as_user: AsUser) -> None:
    """The leak tests' positive control: the canary is in the list, for its creator."""
    page = as_user("carol")
    page.goto(portal.at("/artifacts"))
    assert listed_ids(page) == portal.expected("carol")
    assert portal.id("c-canary") in portal.expected("carol")
    assert CANARY_NAME in page.content()
