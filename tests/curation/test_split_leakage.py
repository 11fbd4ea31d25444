"""No leaks between subsets: listings, duplicate groups and near-duplicates never straddle
train, validation and test, and the leakage units join reposts but not look-alikes."""

from __future__ import annotations

import io
from collections import defaultdict
from itertools import combinations

import numpy as np
import pytest
import sqlalchemy as sa

from curation.dedup.hashing import hash_catalog
from curation.dedup.search import pairs_within
from curation.splits.build import build_split
from curation.splits.stored import load_split
from curation.splits.units import find_units
from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace
from tests.curation.split_catalog import LABELS, Catalogued, photo_bytes


def assert_no_leaks(ws: Workspace, threshold: int = 8) -> int:
    """Check listings, duplicate groups and near pHash pairs independently; return pairs seen."""
    subset_of = {a.image_id: a.subset for a in load_split(ws, include_unusable=True)}
    with ws.catalog.reading() as conn:
        listing_members = defaultdict(set)
        for image_id, listing_id in (
            conn.execute(sa.select(t.images.c.id, t.images.c.listing_id)).all()
            + conn.execute(
                sa.select(t.image_sources.c.image_id, t.image_sources.c.listing_id)
            ).all()
        ):
            if listing_id is not None:
                listing_members[listing_id].add(image_id)
        groups = defaultdict(set)
        for group_id, image_id in conn.execute(
            sa.select(t.duplicate_members.c.group_id, t.duplicate_members.c.image_id)
        ):
            groups[group_id].add(image_id)
        hashes = dict(
            conn.execute(sa.select(t.image_hashes.c.image_id, t.image_hashes.c.value)).all()
        )
    for members in [*listing_members.values(), *groups.values()]:
        assert len({subset_of[i] for i in members if i in subset_of}) <= 1
    near = 0
    for (a, ha), (b, hb) in combinations(hashes.items(), 2):
        if a in subset_of and b in subset_of and bin(int(ha, 16) ^ int(hb, 16)).count("1") <= 8:
            near += 1
            assert subset_of[a] == subset_of[b], f"near pair {a},{b} straddles subsets"
    return near


def test_listings_duplicate_groups_and_near_duplicates_never_straddle(
    workspace: Workspace,
) -> None:
    cat = Catalogued(workspace, seed=3)
    rng = np.random.default_rng(5)
    for label in LABELS:
        cat.populate(label, singles=14)
    with workspace.catalog.reading() as conn:
        singles = conn.execute(
            sa.select(t.images.c.id, t.images.c.label).where(t.images.c.listing_id.is_(None))
        ).all()
    by_label = defaultdict(list)
    for image_id, label in singles:
        by_label[label].append(image_id)
    for label in LABELS:
        ids = by_label[label]
        # Near pHash pairs (3 bits apart) between otherwise unrelated photos.
        for a, b in zip(ids[0:6:2], ids[1:6:2], strict=True):
            value = int(rng.integers(0, 2**62))
            cat.set_phash(a, value)
            cat.set_phash(b, value ^ 0b10101)
        # A duplicate group whose members all stayed active (e.g. still in review).
        with workspace.catalog.atomic() as conn:
            group = conn.execute(
                sa.insert(t.duplicate_groups).values(
                    kept_image_id=ids[6], hash_kind="phash", threshold=8, state="pending"
                )
            ).inserted_primary_key[0]
            conn.execute(
                sa.insert(t.duplicate_members),
                [{"group_id": group, "image_id": i} for i in ids[6:9]],
            )
    # A photo of listing A reposted in listing B ties both listings together.
    listing_a, listing_b = cat.listing("swift"), cat.listing("swift")
    shared = photo_bytes(rng)
    for listing_id in (listing_a, listing_b):
        intake_image(
            workspace.catalog,
            workspace.store,
            shared,
            Provenance(label="swift", listing_id=listing_id, source_url=f"http://x/{listing_id}"),
        )
    cat.photo("swift", listing_b)
    cat.photo("swift", listing_b)

    # The near pairs above are set on the stored hashes of different photos: the hash-level
    # decision (colour; no stored colour layout keeps the pair, leak-safe) must join them. The
    # default, align, looks at the photos themselves (tested with real copies elsewhere).
    for seed in range(4):
        build_split(
            workspace, name=f"s{seed}", fractions=(0.5, 0.25, 0.25), seed=seed, verify="colour"
        )
    for seed in range(4):
        subset_of = {a.image_id: a.subset for a in load_split(workspace, f"s{seed}")}
        with workspace.catalog.reading() as conn:
            b_photos = conn.execute(
                sa.select(t.images.c.id).where(t.images.c.listing_id == listing_b)
            ).scalars()
            shared_id = conn.execute(
                sa.select(t.image_sources.c.image_id).where(
                    t.image_sources.c.listing_id == listing_b
                )
            ).scalars()
            assert len({subset_of[i] for i in [*b_photos, *shared_id]}) == 1
    # The generic check, on the default name: every near pair lands together.
    build_split(workspace, fractions=(0.5, 0.25, 0.25), seed=9, verify="colour")
    assert assert_no_leaks(workspace) >= 6


@pytest.mark.parametrize("method", ["faiss", "numpy", "mih"])
def test_near_pairs_include_the_threshold_and_nothing_beyond(method: str) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2**63, size=40, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    hashes = np.concatenate([base, base[:3] ^ np.uint64(0xFF), base[3:6] ^ np.uint64(0x1FF)])

    pairs = pairs_within(hashes, 8, method=method)  # type: ignore[arg-type]

    found = {(i, j) for i, j, _ in pairs.tolist()}
    expected = {
        (i, j)
        for i, j in combinations(range(len(hashes)), 2)
        if (int(hashes[i]) ^ int(hashes[j])).bit_count() <= 8
    }
    assert found == expected
    assert {(0, 40), (1, 41), (2, 42)} <= found and (3, 43) not in found


def test_units_join_reposts_but_not_lookalikes_close_in_phash(workspace: Workspace) -> None:
    import random

    from scrapers.demo_site.backgrounds import paint_background
    from scrapers.demo_site.cars import place_car

    def jpeg_of(colour: tuple[int, int, int], scale: float = 1.0, quality: int = 90) -> bytes:
        image, ground = paint_background(random.Random(7), "road", (320, 240))
        place_car(random.Random(8), image, "swift", ground, colour=colour)
        if scale != 1.0:
            image = image.resize((int(320 * scale), int(240 * scale)))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        return out.getvalue()

    ids = {}
    for name, data in {
        "red": jpeg_of((200, 30, 30)),
        "red_repost": jpeg_of((200, 30, 30), scale=0.7, quality=60),
        "blue": jpeg_of((30, 60, 200)),
        "green": jpeg_of((40, 170, 60)),
    }.items():
        ids[name] = intake_image(
            workspace.catalog, workspace.store, data, Provenance(label="swift", source_path=name)
        ).image_id
    hash_catalog(workspace.catalog, workspace.store, ("phash", "colour"), workers=1)

    with workspace.catalog.reading() as conn:
        phashes = dict(
            conn.execute(
                sa.select(t.image_hashes.c.image_id, t.image_hashes.c.value).where(
                    t.image_hashes.c.kind == "phash"
                )
            ).all()
        )
        units = find_units(conn, list(ids.values())).members()
        phash_only = find_units(conn, list(ids.values()), colour_threshold=None).members()

    close = (int(phashes[ids["red"]], 16) ^ int(phashes[ids["blue"]], 16)).bit_count()
    assert close <= 8  # pHash alone ties the look-alikes together
    assert sorted(map(sorted, units)) == sorted(
        [sorted([ids["red"], ids["red_repost"]]), [ids["blue"]], [ids["green"]]]
    )
    assert len(phash_only) < len(units)
