"""One near-duplicate decision for dedup, check-leaks and split units, stored with its results.

The ``orb`` tests use real photographs (realcars-dev) and are skipped when it is absent.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image, ImageOps

from curation.dedup.decision import NearDuplicateDecision
from curation.dedup.query import query_folder
from curation.dedup.run import DedupConfig, run_dedup
from curation.splits.build import build_split
from curation.splits.units import find_units
from pipeline import schema as t
from pipeline.errors import ConfigError
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace

DATA = Path(__file__).resolve().parents[3] / "shared" / "realcars-dev" / "photos"
needs_real_photos = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real-photo tests need the realcars-dev photos at {DATA}"
)
ORIGINAL = "coupe/00000.jpg"
# Different trucks of the same model in the same pose: pHash candidates, never duplicates.
STOCK_PAIR = ("pickup/00186.jpg", "pickup/00384.jpg")


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def add(ws: Workspace, data: bytes, name: str, label: str = "coupe") -> int:
    result = intake_image(ws.catalog, ws.store, data, Provenance(label=label, source_path=name))
    assert result.image_id is not None, result
    return result.image_id


def real_family(ws: Workspace) -> dict[str, int]:
    """Catalog a real photo, its mirrored and greyscale copies, and a stock-shot pair."""
    with Image.open(DATA / ORIGINAL) as im:
        original = im.convert("RGB")
    ids = {
        "original": add(ws, (DATA / ORIGINAL).read_bytes(), "original"),
        "mirror": add(ws, jpeg(ImageOps.mirror(original)), "mirror"),
        "grey": add(ws, jpeg(original.convert("L")), "grey"),
    }
    for n, name in enumerate(STOCK_PAIR):
        ids[f"stock{n}"] = add(ws, (DATA / name).read_bytes(), f"stock{n}", label="pickup")
    return ids


def test_decision_params_round_trip_and_name_every_setting() -> None:
    colour = NearDuplicateDecision("colour")
    assert colour.params() == {"verify": "colour", "threshold": 8, "colour_threshold": 40}
    orb = NearDuplicateDecision("orb", threshold=9)
    assert orb.params()["candidate_threshold"] == 13
    aligned = NearDuplicateDecision()
    assert aligned.params()["verify"] == "align"
    assert aligned.params()["candidate_threshold"] == 12
    assert {"min_structure", "min_hue", "min_tone", "nearest"} <= set(aligned.params())
    for decision in (colour, orb, aligned, NearDuplicateDecision("colour", colour_threshold=None)):
        assert NearDuplicateDecision.from_params(decision.params()) == decision
    assert NearDuplicateDecision.from_params({}, threshold=6).threshold == 6  # older rows


def test_each_dedup_run_stores_its_decision_with_its_groups(workspace: Workspace) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(60, 80, 3)).astype("uint8")
    photo = Image.fromarray(pixels, "RGB").resize((320, 240), Image.Resampling.BILINEAR)
    add(workspace, jpeg(photo), "a")
    add(workspace, jpeg(photo.resize((240, 180)), quality=60), "b")
    summary = run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1))
    assert len(summary.groups) == 1
    with workspace.catalog.reading() as conn:
        group = conn.execute(sa.select(t.duplicate_groups)).one()
        params, stored = conn.execute(
            sa.select(t.runs.c.params, t.runs.c.summary).where(t.runs.c.id == group.run_id)
        ).one()
    expected = NearDuplicateDecision().params()
    assert expected["verify"] == "align"
    assert params["decision"] == expected == stored["decision"] == summary.decision


def test_bad_verify_options_are_refused_with_the_fix(workspace: Workspace) -> None:
    with pytest.raises(ConfigError, match="use one of align, colour, orb"):
        run_dedup(workspace.catalog, workspace.store, DedupConfig(verify="sift"))
    with pytest.raises(ConfigError, match="drop --hash dhash"):
        run_dedup(workspace.catalog, workspace.store, DedupConfig(verify="orb", hash_kind="dhash"))
    with pytest.raises(ConfigError, match="use one of align, colour, orb"):
        build_split(workspace, verify="sift")
    carscout = Path(sys.executable).parent / "carscout"
    home = str(workspace.settings.home)
    for command in ("dedup", "check-leaks ."):
        done = subprocess.run(
            [carscout, "--home", home, *command.split(), "--verify", "sift"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert len(lines) == 1 and "--verify 'sift': use one of align, colour, orb" in lines[0]


@needs_real_photos
def test_dedup_orb_groups_mirrored_and_greyscale_copies_not_stock_shots(
    workspace: Workspace,
) -> None:
    ids = real_family(workspace)
    colour = run_dedup(
        workspace.catalog, workspace.store, DedupConfig(workers=1, dry_run=True, verify="colour")
    )
    grouped = [{m.image_id for m in g.members} for g in colour.groups]
    assert not any(ids["mirror"] in g for g in grouped)  # why orb exists
    aligned = run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1, dry_run=True))
    assert aligned.decision["verify"] == "align"  # the default keeps the copies, not the twins
    assert [{m.image_id for m in g.members} for g in aligned.groups] == [
        {ids["original"], ids["mirror"], ids["grey"]}
    ]

    orb = run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1, verify="orb"))
    assert [{m.image_id for m in g.members} for g in orb.groups] == [
        {ids["original"], ids["mirror"], ids["grey"]}
    ]
    assert orb.decision["verify"] == "orb"
    with workspace.catalog.reading() as conn:
        run_ids = conn.execute(sa.select(t.duplicate_groups.c.run_id)).scalars().all()
        params = conn.execute(sa.select(t.runs.c.params).where(t.runs.c.id == run_ids[0])).one()
    assert params[0]["decision"] == orb.decision


@needs_real_photos
def test_check_leaks_orb_finds_a_mirrored_copy_and_not_the_stock_twin(
    workspace: Workspace, tmp_path: Path
) -> None:
    add(workspace, (DATA / ORIGINAL).read_bytes(), "original")
    add(workspace, (DATA / STOCK_PAIR[0]).read_bytes(), "stock", label="pickup")
    outside = tmp_path / "outside"
    outside.mkdir()
    with Image.open(DATA / ORIGINAL) as im:
        (outside / "mirror.jpg").write_bytes(jpeg(ImageOps.mirror(im.convert("RGB"))))
    (outside / "twin.jpg").write_bytes((DATA / STOCK_PAIR[1]).read_bytes())

    colour = query_folder(workspace.catalog, workspace.store, outside, workers=1, verify="colour")
    orb = query_folder(workspace.catalog, workspace.store, outside, workers=1, verify="orb")
    aligned = query_folder(workspace.catalog, workspace.store, outside, workers=1)
    assert colour.matches == []
    assert [(Path(m.path).name, m.label) for m in orb.matches] == [("mirror.jpg", "coupe")]
    assert [(Path(m.path).name, m.label) for m in aligned.matches] == [("mirror.jpg", "coupe")]


@needs_real_photos
def test_split_units_follow_the_chosen_decision_and_store_it(workspace: Workspace) -> None:
    ids = real_family(workspace)
    run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1, dry_run=True))
    run_dedup(
        workspace.catalog, workspace.store, DedupConfig(workers=1, dry_run=True, verify="orb")
    )
    orb = NearDuplicateDecision("orb")
    with workspace.catalog.reading() as conn:
        with pytest.raises(ValueError, match="image store"):
            find_units(conn, list(ids.values()), decision=orb)
        colour_units = find_units(conn, list(ids.values())).members()
        orb_units = find_units(conn, list(ids.values()), decision=orb, store=workspace.store)
    family = sorted([ids["original"], ids["mirror"], ids["grey"]])
    assert family in [sorted(u) for u in orb_units.members()]
    assert family not in [sorted(u) for u in colour_units]
    assert [ids["stock0"]] in orb_units.members() and [ids["stock1"]] in orb_units.members()

    result = build_split(workspace, fractions=(0.5, 0.5, 0.0), verify="orb")
    with workspace.catalog.reading() as conn:
        split = conn.execute(sa.select(t.splits)).one()
        subsets = dict(
            conn.execute(
                sa.select(t.split_assignments.c.image_id, t.split_assignments.c.subset)
            ).all()
        )
    assert split.params["near_duplicates"] == orb.params()
    assert len({subsets[i] for i in family}) == 1
    assert result.created
    with pytest.raises(ConfigError, match="--verify orb, not colour"):
        build_split(workspace, verify="colour")
