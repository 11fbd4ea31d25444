"""Splits: exact stratified sizes per label, reproducible from the seed, only usable photos,
and the options a split version keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from curation.dedup.decision import NearDuplicateDecision
from curation.splits.build import build_split
from curation.splits.stored import load_split, read_split, split_versions
from pipeline import schema as t
from pipeline.catalog import change_image
from pipeline.errors import CarscoutError, ConfigError
from pipeline.workspace import Workspace
from tests.curation.split_catalog import LABELS, Catalogued, by_subset, sha_by_subset


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


def test_same_catalog_and_seed_give_the_same_split(tmp_path: Path) -> None:
    built = []
    for run in range(2):
        with Workspace.open(home=tmp_path / f"home{run}") as ws:
            cat = Catalogued(ws, seed=7)
            for label in LABELS:
                cat.populate(label)
            build_split(ws, sizes=(24, 8, 8), seed=11)
            build_split(ws, name="other-seed", sizes=(24, 8, 8), seed=12)
            built.append((sha_by_subset(ws), sha_by_subset(ws, "other-seed")))

    assert built[0][0] == built[1][0]
    assert built[0][1] == built[1][1]
    assert built[0][0] != built[0][1]


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
