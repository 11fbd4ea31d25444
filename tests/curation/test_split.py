"""Splits: exact stratified sizes, reproducibility, no leaks, growth with a fixed test set."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from typer.testing import CliRunner

from curation.dedup.decision import NearDuplicateDecision
from curation.dedup.hashing import hash_catalog
from curation.dedup.search import pairs_within
from curation.splits.build import build_split
from curation.splits.stored import load_split, read_split, split_versions
from curation.splits.units import find_units
from pipeline import schema as t
from pipeline.catalog import change_image
from pipeline.errors import CarscoutError, ConfigError
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace

LABELS = ("swift", "wagonr")


def photo_bytes(rng: np.random.Generator) -> bytes:
    """Return a 40×40 JPEG of a random colour with noise (distinct bytes per call)."""
    base = rng.integers(0, 256, size=3)
    pixels = np.clip(base + rng.integers(-30, 31, size=(40, 40, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


class Catalogued:
    """Puts photos, listings and hashes into a workspace the way the pipeline stages do."""

    def __init__(self, ws: Workspace, seed: int = 0) -> None:
        self.ws = ws
        self.rng = np.random.default_rng(seed)
        self.listings = 0

    def listing(self, label: str) -> int:
        self.listings += 1
        with self.ws.catalog.atomic() as conn:
            return int(
                conn.execute(
                    sa.insert(t.listings).values(
                        site="demo", url=f"http://127.0.0.1/l/{self.listings}", label=label
                    )
                ).inserted_primary_key[0]
            )

    def photo(self, label: str, listing_id: int | None = None, phash: int | None = None) -> int:
        result = intake_image(
            self.ws.catalog,
            self.ws.store,
            photo_bytes(self.rng),
            Provenance(label=label, listing_id=listing_id, source_path=f"p{self.rng.random()}"),
        )
        assert result.outcome == "stored"
        value = phash if phash is not None else int(self.rng.integers(0, 2**63)) * 2 + 1
        self.set_phash(result.image_id, value)
        return int(result.image_id)

    def set_phash(self, image_id: int, value: int) -> None:
        with self.ws.catalog.atomic() as conn:
            conn.execute(sa.delete(t.image_hashes).where(t.image_hashes.c.image_id == image_id))
            conn.execute(
                sa.insert(t.image_hashes).values(
                    image_id=image_id, kind="phash", value=f"{value:016x}"
                )
            )

    def populate(self, label: str, *, singles: int = 10, pairs: int = 4, triples: int = 2) -> None:
        """Add listings of 3 and 2 photos and single photos without a listing."""
        for size, count in ((3, triples), (2, pairs)):
            for _ in range(count):
                listing_id = self.listing(label)
                for _ in range(size):
                    self.photo(label, listing_id)
        for _ in range(singles):
            self.photo(label)


@pytest.fixture
def catalogued(workspace: Workspace) -> Catalogued:
    """A workspace with 24 usable photos per label (2 listings of 3, 4 of 2, 10 singles)."""
    cat = Catalogued(workspace)
    for label in LABELS:
        cat.populate(label)
    return cat


def by_subset(assignments: list) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for a in assignments:
        counts[a.subset][a.label] = counts[a.subset].get(a.label, 0) + 1
    return dict(counts)


def test_sizes_are_exact_and_balanced_over_labels(catalogued: Catalogued) -> None:
    result = build_split(catalogued.ws, sizes=(24, 8, 8), seed=1)

    expected = {s: dict.fromkeys(LABELS, n) for s, n in (("train", 12), ("validation", 4))}
    expected["test"] = dict.fromkeys(LABELS, 4)
    assert result.counts == expected
    assert result.targets == expected
    assert result.version == 1 and result.created and result.newly_placed == 40
    assert result.surplus == 8
    assignments = load_split(catalogued.ws)
    assert by_subset(assignments) == expected
    assert len({a.image_id for a in assignments}) == 40
    assert all(a.path.is_file() for a in assignments)


def test_read_split_returns_a_version_with_its_assignments(catalogued: Catalogued) -> None:
    build_split(catalogued.ws, sizes=(24, 8, 8), seed=1)
    build_split(catalogued.ws, sizes=(24, 8, 8), seed=2, reshuffle=True)

    first = read_split(catalogued.ws, version=1)
    assert (first.info.name, first.info.version, first.info.seed) == ("default", 1, 1)
    assert first.assignments == load_split(catalogued.ws, version=1)
    latest = read_split(catalogued.ws)
    assert (latest.info.version, latest.info.seed) == (2, 2)
    assert latest.assignments == load_split(catalogued.ws)


def test_fractions_split_every_label_in_proportion(workspace: Workspace) -> None:
    cat = Catalogued(workspace)
    cat.populate("swift", singles=20, pairs=0, triples=0)
    cat.populate("wagonr", singles=10, pairs=0, triples=0)

    result = build_split(workspace, fractions=(0.6, 0.2, 0.2), seed=4)

    assert result.counts == {
        "train": {"swift": 12, "wagonr": 6},
        "validation": {"swift": 4, "wagonr": 2},
        "test": {"swift": 4, "wagonr": 2},
    }
    assert result.surplus == 0


def _sha_by_subset(ws: Workspace, name: str = "default") -> dict[str, list[str]]:
    subsets: dict[str, list[str]] = defaultdict(list)
    for a in load_split(ws, name):
        subsets[a.subset].append(a.sha256)
    return {subset: sorted(shas) for subset, shas in subsets.items()}


def test_same_catalog_and_seed_give_the_same_split(tmp_path: Path) -> None:
    built = []
    for run in range(2):
        with Workspace.open(home=tmp_path / f"home{run}") as ws:
            cat = Catalogued(ws, seed=7)
            for label in LABELS:
                cat.populate(label)
            build_split(ws, sizes=(24, 8, 8), seed=11)
            build_split(ws, name="other-seed", sizes=(24, 8, 8), seed=12)
            built.append((_sha_by_subset(ws), _sha_by_subset(ws, "other-seed")))

    assert built[0][0] == built[1][0]
    assert built[0][1] == built[1][1]
    assert built[0][0] != built[0][1]


def _assert_no_leaks(ws: Workspace, threshold: int = 8) -> int:
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
    assert _assert_no_leaks(workspace) >= 6


def test_only_usable_images_take_part(workspace: Workspace) -> None:
    cat = Catalogued(workspace)
    ids = {label: [cat.photo(label) for _ in range(8)] for label in LABELS}
    rejected, duplicate, pending = ids["swift"][:3]
    with workspace.catalog.atomic() as conn:
        change_image(conn, rejected, actor="test", status="rejected")
        change_image(
            conn, duplicate, actor="test", status="duplicate", duplicate_of=ids["swift"][5]
        )
        conn.execute(sa.insert(t.review_items).values(image_id=pending, reason="label_issue"))

    result = build_split(workspace, fractions=(0.5, 0.25, 0.25))
    placed = {a.image_id for a in load_split(workspace)}
    assert placed == set(ids["swift"][3:]) | set(ids["wagonr"])
    assert sum(result.counts[s].get("swift", 0) for s in result.counts) == 5

    build_split(workspace, name="with-pending", fractions=(0.5, 0.25, 0.25), include_pending=True)
    with_pending = {a.image_id for a in load_split(workspace, "with-pending")}
    assert pending in with_pending and rejected not in with_pending
    assert duplicate not in with_pending


def test_growing_keeps_the_test_set_and_places_only_new_images(catalogued: Catalogued) -> None:
    ws = catalogued.ws
    first = build_split(ws, sizes=(24, 8, 8), seed=2)
    before = {a.image_id: a.subset for a in load_split(ws)}
    test_shas = _sha_by_subset(ws)["test"]
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
    assert _sha_by_subset(ws)["test"] == test_shas
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
    v1 = _sha_by_subset(ws)
    catalogued.photo("swift")

    second = build_split(ws, reshuffle=True, seed=3)

    assert second.created and second.version == 2 and split_versions(ws) == [1, 2]
    assert second.counts == second.targets  # same sizes reused from version 1
    v1_again: dict[str, list[str]] = defaultdict(list)
    for a in load_split(ws, version=1):
        v1_again[a.subset].append(a.sha256)
    assert {s: sorted(v) for s, v in v1_again.items()} == v1
    assert _sha_by_subset(ws) != v1


def test_too_few_images_gives_counts_per_label(catalogued: Catalogued) -> None:
    with pytest.raises(CarscoutError) as error:
        build_split(catalogued.ws, sizes=(40, 10, 10))
    message = str(error.value)
    assert "swift has 24 of 30 needed" in message
    assert "wagonr has 24 of 30 needed" in message
    assert split_versions(catalogued.ws) == []


def test_changed_settings_need_reshuffle(catalogued: Catalogued) -> None:
    build_split(catalogued.ws, sizes=(24, 8, 8), seed=2)
    with pytest.raises(ConfigError, match="--reshuffle"):
        build_split(catalogued.ws, sizes=(20, 10, 10))
    with pytest.raises(ConfigError, match="--seed"):
        build_split(catalogued.ws, seed=5)
    assert build_split(catalogued.ws, sizes=(24, 8, 8), seed=2).newly_placed == 0


def test_split_command_prints_subset_by_label_table(catalogued: Catalogued) -> None:
    from cli.app import app

    home = str(catalogued.ws.settings.home)
    runner = CliRunner()
    result = runner.invoke(app, ["--home", home, "split", "--sizes", "24,8,8", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "version 1" in result.output
    for word in ("train", "validation", "test", *LABELS):
        assert word in result.output
    assert by_subset(load_split(catalogued.ws))["test"] == dict.fromkeys(LABELS, 4)

    bad = runner.invoke(app, ["--home", home, "split", "--sizes", "24,8"])
    assert bad.exit_code != 0


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


def test_a_split_stores_its_whole_near_duplicate_decision(catalogued: Catalogued) -> None:
    build_split(catalogued.ws, sizes=(24, 8, 8), seed=2)
    with catalogued.ws.catalog.reading() as conn:
        params = conn.execute(sa.select(t.splits.c.params)).scalar_one()
    # The colour threshold that confirmed each pHash link is stored, not only the pHash one.
    assert params["near_duplicates"] == NearDuplicateDecision().params()
    assert params["near_duplicates"]["verify"] == "align"
    with pytest.raises(ConfigError, match="--verify align, not orb"):
        build_split(catalogued.ws, verify="orb")
    assert build_split(catalogued.ws, verify="align").newly_placed == 0
    build_split(catalogued.ws, reshuffle=True, phash_threshold=-1)
    with catalogued.ws.catalog.reading() as conn:
        latest = conn.execute(sa.select(t.splits.c.params).order_by(t.splits.c.id.desc())).first()
    assert latest is not None and latest[0]["near_duplicates"] is None
