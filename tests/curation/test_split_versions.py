"""Split versions: growing keeps the test set and places only new photos, photos that stop
being usable stay recorded, and a reshuffle makes a new version beside the old."""

from __future__ import annotations

from collections import Counter, defaultdict

from curation.splits.build import build_split
from curation.splits.stored import load_split, split_versions
from pipeline.catalog import change_image
from tests.curation.split_catalog import LABELS, Catalogued, sha_by_subset


def test_growing_keeps_the_test_set_and_places_only_new_images(catalogued: Catalogued) -> None:
    ws = catalogued.ws
    first = build_split(ws, sizes=(24, 8, 8), seed=2)
    before = {a.image_id: a.subset for a in load_split(ws)}
    test_shas = sha_by_subset(ws)["test"]
    test_listing = next(
        a.listing_id for a in load_split(ws) if a.subset == "test" and a.listing_id is not None
    )
    train_listing = next(
        a.listing_id for a in load_split(ws) if a.subset == "train" and a.listing_id is not None
    )

    again = build_split(ws)  # nothing new: nothing moves, surplus stays out
    assert again.newly_placed == 0 and not again.created and again.counts == first.counts

    in_test_listing = catalogued.photo("swift", test_listing)
    in_train_listing = catalogued.photo("swift", train_listing)
    new = [catalogued.photo(label) for label in LABELS for _ in range(12)]
    grown = build_split(ws, sizes=(24, 8, 8))

    assert not grown.created and grown.version == first.version == 1
    assert split_versions(ws) == [1]
    after = {a.image_id: a.subset for a in load_split(ws)}
    assert {i: after[i] for i in before} == before
    assert sha_by_subset(ws)["test"] == test_shas
    assert grown.withheld == [in_test_listing] and in_test_listing not in after
    assert after[in_train_listing] == "train"
    assert set(after) - set(before) == set(new) | {in_train_listing}
    assert grown.newly_placed == len(new) + 1
    assert set(Counter(after[i] for i in new)) == {"train", "validation"}
    # train:validation stays 12:4 per label, so 12 new photos of a label go 9:3.
    assert grown.counts["train"] == {"swift": 12 + 9 + 1, "wagonr": 12 + 9}
    assert grown.counts["validation"] == {"swift": 4 + 3, "wagonr": 4 + 3}
    assert grown.counts["test"] == first.counts["test"]


def test_images_that_stop_being_usable_stay_recorded_as_stale(catalogued: Catalogued) -> None:
    ws = catalogued.ws
    build_split(ws, sizes=(24, 8, 8), seed=2)
    victim = next(a for a in load_split(ws) if a.subset == "test")
    with ws.catalog.atomic() as conn:
        change_image(conn, victim.image_id, actor="review", status="rejected")

    grown = build_split(ws)

    assert grown.stale == [victim.image_id]
    assert victim.image_id not in {a.image_id for a in load_split(ws)}
    kept = {a.image_id: a for a in load_split(ws, include_unusable=True)}
    assert kept[victim.image_id].subset == "test" and not kept[victim.image_id].usable
    assert grown.counts["test"][victim.label] == 3


def test_reshuffle_creates_a_new_version_and_keeps_the_old(catalogued: Catalogued) -> None:
    ws = catalogued.ws
    build_split(ws, sizes=(24, 8, 8), seed=2)
    v1 = sha_by_subset(ws)
    catalogued.photo("swift")

    second = build_split(ws, reshuffle=True, seed=3)

    assert second.created and second.version == 2 and split_versions(ws) == [1, 2]
    assert second.counts == second.targets  # same sizes reused from version 1
    v1_again: dict[str, list[str]] = defaultdict(list)
    for a in load_split(ws, version=1):
        v1_again[a.subset].append(a.sha256)
    assert {s: sorted(v) for s, v in v1_again.items()} == v1
    assert sha_by_subset(ws) != v1
