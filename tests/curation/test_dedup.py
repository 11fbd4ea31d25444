"""Near-duplicate grouping on real photos in a real catalog (photos drawn here with Pillow)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw, ImageEnhance
from typer.testing import CliRunner

from cli.app import app
from curation.dedup.hashing import hash_image
from curation.dedup.query import query_folder
from curation.dedup.run import DedupConfig, run_dedup
from curation.dedup.search import hamming, hex_to_uint64
from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace


def scene(
    seed: int, size: tuple[int, int] = (480, 360), car_colour: tuple = (30, 70, 160)
) -> Image.Image:
    """A street-like photo: sky/ground, clutter shapes, and the same boxy "car" every time."""
    rng = random.Random(seed)
    w, h = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    horizon = int(h * rng.uniform(0.35, 0.6))
    sky = tuple(rng.randint(90, 230) for _ in range(3))
    ground = tuple(rng.randint(30, 140) for _ in range(3))
    for y in range(h):
        f = y / h
        top = sky if y < horizon else ground
        draw.line([(0, y), (w, y)], fill=tuple(int(c * (0.7 + 0.5 * f)) for c in top))
    for _ in range(12):
        x0, y0 = rng.randint(-40, w), rng.randint(-40, h)
        x1, y1 = x0 + rng.randint(20, 200), y0 + rng.randint(20, 160)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    cx, cy = rng.randint(60, w - 260), rng.randint(horizon, h - 40)
    draw.polygon(
        [
            (cx, cy),
            (cx, cy - 60),
            (cx + 50, cy - 100),
            (cx + 170, cy - 100),
            (cx + 220, cy - 55),
            (cx + 230, cy),
        ],
        fill=car_colour,
    )
    for wx in (cx + 45, cx + 185):
        draw.ellipse((wx - 25, cy - 25, wx + 25, cy + 25), fill=(20, 20, 20))
    return image


def lookalike(seed: int, colour: tuple[int, int, int]) -> Image.Image:
    """The demo site's painter: one street and car placement, the car in a given colour."""
    from scrapers.demo_site.backgrounds import paint_background
    from scrapers.demo_site.cars import place_car

    image, ground = paint_background(random.Random(seed), "road", (320, 240))
    place_car(random.Random(seed + 1), image, "swift", ground, colour=colour)
    return image


def jpeg(image: Image.Image, quality: int = 92) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def copies(original: Image.Image) -> dict[str, bytes]:
    """The ways listings repost a photo."""
    w, h = original.size
    return {
        "resized": jpeg(original.resize((w * 2 // 3, h * 2 // 3), Image.Resampling.LANCZOS)),
        "recompressed": jpeg(original, quality=40),
        "cropped": jpeg(original.crop((int(w * 0.03), int(h * 0.03), w, h))),
        "brightened": jpeg(ImageEnhance.Brightness(original).enhance(1.2)),
        "same_pixels_png": png(original),
    }


def add(ws: Workspace, data: bytes, label: str = "swift", name: str = "x") -> int:
    result = intake_image(ws.catalog, ws.store, data, Provenance(label=label, source_path=name))
    assert result.image_id is not None, result
    return result.image_id


def image_rows(ws: Workspace) -> dict[int, sa.Row]:
    with ws.catalog.reading() as conn:
        return {r.id: r for r in conn.execute(sa.select(t.images))}


CONFIG = DedupConfig(workers=1)


def test_reposted_copies_are_grouped_and_the_best_copy_kept(workspace: Workspace) -> None:
    original = scene(1)
    ids = {"original": add(workspace, jpeg(original), name="o")}
    assert add(workspace, jpeg(original), name="again") == ids["original"]  # same bytes: one image
    for name, data in copies(original).items():
        ids[name] = add(workspace, data, name=name)
    unrelated = [add(workspace, jpeg(scene(seed)), name=f"u{seed}") for seed in (2, 3, 4, 5)]

    summary = run_dedup(workspace.catalog, workspace.store, CONFIG)

    assert len(summary.groups) == 1
    group = summary.groups[0]
    assert {m.image_id for m in group.members} == set(ids.values())
    rows = image_rows(workspace)
    best = max(ids.values(), key=lambda i: (rows[i].width * rows[i].height, rows[i].bytes, -i))
    assert group.kept.image_id == best
    assert next(m.distance for m in group.members if m.image_id == ids["original"]) == 0
    for image_id in set(ids.values()) - {best}:
        assert rows[image_id].status == "duplicate"
        assert rows[image_id].duplicate_of == best
    assert rows[best].status == "active"
    assert all(rows[i].status == "active" for i in unrelated)
    assert summary.marked == len(ids) - 1
    for row in rows.values():  # nothing deleted
        assert workspace.store.path(row.store_path).is_file()
    with workspace.catalog.reading() as conn:
        events = conn.execute(
            sa.select(t.image_events).where(t.image_events.c.actor == "dedup")
        ).all()
        group_row = conn.execute(sa.select(t.duplicate_groups)).one()
    assert {e.image_id for e in events} == set(ids.values()) - {best}
    assert group_row.kept_image_id == best and group_row.state == "resolved"


def test_different_labels_go_to_review_instead_of_being_resolved(workspace: Workspace) -> None:
    original = scene(11)
    a = add(workspace, jpeg(original), label="swift", name="a")
    b = add(workspace, copies(original)["resized"], label="wagonr", name="b")
    add(workspace, jpeg(scene(12)), label="swift", name="c")

    summary = run_dedup(workspace.catalog, workspace.store, CONFIG)
    again = run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1, full=True))

    assert summary.conflicts == 1 and summary.marked == 0 and summary.queued == 2
    assert again.conflicts == 1 and again.queued == 0
    rows = image_rows(workspace)
    assert rows[a].status == rows[b].status == "active"
    with workspace.catalog.reading() as conn:
        items = conn.execute(sa.select(t.review_items)).all()
    assert sorted(i.image_id for i in items) == [a, b]
    for item in items:
        detail = item.detail if isinstance(item.detail, dict) else json.loads(item.detail)
        assert item.reason == "label conflict" and item.state == "pending"
        assert detail["labels"] == ["swift", "wagonr"]


def test_incremental_run_finds_a_new_copy_of_an_old_photo(workspace: Workspace) -> None:
    old = scene(21)
    kept = add(workspace, jpeg(old), name="old")
    small = add(workspace, copies(old)["resized"], name="small")
    for seed in (22, 23, 24):
        add(workspace, jpeg(scene(seed)), name=f"other{seed}")
    first = run_dedup(workspace.catalog, workspace.store, CONFIG)
    assert first.searched_new == 5 and first.marked == 1

    new_copy = add(workspace, copies(old)["recompressed"], name="week2")
    second = run_dedup(workspace.catalog, workspace.store, CONFIG)
    assert second.searched_new == 1 and second.searched_against == 5
    assert second.marked == 1
    rows = image_rows(workspace)
    assert rows[new_copy].status == "duplicate" and rows[new_copy].duplicate_of == kept

    # A larger copy arrives: it becomes the kept one, the old kept copy is demoted and the
    # older duplicates point at the new best copy.
    bigger = add(workspace, jpeg(old.resize((720, 540), Image.Resampling.LANCZOS)), name="big")
    third = run_dedup(workspace.catalog, workspace.store, CONFIG)
    rows = image_rows(workspace)
    assert rows[bigger].status == "active"
    assert all(rows[i].duplicate_of == bigger for i in (kept, small, new_copy))
    assert third.marked == 1 and third.repointed == 2
    with workspace.catalog.reading() as conn:
        states = conn.execute(sa.select(t.duplicate_groups.c.state)).scalars().all()
    assert sorted(states) == ["resolved", "superseded", "superseded"]


def test_dry_run_marks_nothing(workspace: Workspace) -> None:
    original = scene(31)
    add(workspace, jpeg(original), name="a")
    add(workspace, copies(original)["brightened"], name="b")
    summary = run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1, dry_run=True))
    assert len(summary.groups) == 1 and summary.marked == 1 and summary.run_id is None
    assert {r.status for r in image_rows(workspace).values()} == {"active"}
    with workspace.catalog.reading() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(t.duplicate_groups)).scalar() == 0
        )


def test_query_folder_finds_copies_of_catalog_photos(workspace: Workspace, tmp_path: Path) -> None:
    photo = scene(41)
    image_id = add(workspace, jpeg(photo), name="train")
    add(workspace, jpeg(scene(42)), name="train2")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.jpg").write_bytes(copies(photo)["cropped"])
    (outside / "fresh.jpg").write_bytes(jpeg(scene(43)))
    (outside / "broken.jpg").write_bytes(b"not a jpeg")

    report = query_folder(workspace.catalog, workspace.store, outside, workers=1)

    assert report.scanned == 3
    assert [(Path(m.path).name, m.image_id) for m in report.matches] == [("leak.jpg", image_id)]
    assert [Path(p).name for p, _ in report.failures] == ["broken.jpg"]


def test_unreadable_store_file_is_recorded_as_a_hash_failure(workspace: Workspace) -> None:
    image_id = add(workspace, jpeg(scene(51)), name="a")
    workspace.store.path(image_rows(workspace)[image_id].store_path).write_bytes(b"\xff\xd8junk")
    summary = run_dedup(workspace.catalog, workspace.store, CONFIG)
    assert summary.hash_failures == 1
    with workspace.catalog.reading() as conn:
        failure = conn.execute(sa.select(t.failures).where(t.failures.c.stage == "hash")).one()
    assert failure.reason == "undecodable"


def test_bad_threshold_is_refused_with_the_fix(workspace: Workspace) -> None:
    with pytest.raises(Exception, match="threshold"):
        run_dedup(workspace.catalog, workspace.store, DedupConfig(threshold=40))


def test_cli_prints_a_summary_and_writes_a_contact_sheet(workspace: Workspace) -> None:
    original = scene(61)
    add(workspace, jpeg(original), name="a")
    add(workspace, copies(original)["resized"], name="b")
    home = workspace.settings.home
    result = CliRunner().invoke(app, ["--home", str(home), "dedup", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "groups" in result.output
    sheets = list(workspace.settings.reports_dir.glob("dedup-*.png"))
    assert len(sheets) == 1 and Image.open(sheets[0]).width > 200


def test_check_leaks_command_lists_copies(workspace: Workspace, tmp_path: Path) -> None:
    photo = scene(71)
    add(workspace, jpeg(photo), name="train")
    outside = tmp_path / "test-set"
    outside.mkdir()
    (outside / "copy.jpg").write_bytes(copies(photo)["resized"])
    home = str(workspace.settings.home)
    result = CliRunner().invoke(
        app, ["--home", home, "check-leaks", str(outside), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "1 of 1 files have a copy" in result.output


def test_lookalikes_close_in_phash_are_not_grouped_but_their_reposts_are(
    workspace: Workspace,
) -> None:
    red, blue = lookalike(3, (200, 30, 30)), lookalike(3, (30, 60, 200))
    phashes = hex_to_uint64([hash_image(red)["phash"], hash_image(blue)["phash"]])
    assert hamming(*phashes) <= 8  # what pHash alone would call duplicates
    families = {}
    for name, photo in (("red", red), ("blue", blue)):
        ids = [add(workspace, jpeg(photo), name=name)]
        ids += [add(workspace, data, name=f"{name}-{kind}") for kind, data in copies(photo).items()]
        families[name] = set(ids)

    # On these flat painted 320x240 photos a 3% crop moves the pHash 10-12 bits, beyond the
    # default candidate threshold (8); at 10 the crops are candidates and only the colour
    # check decides between the families.
    summary = run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1, threshold=10))

    assert sorted({m.image_id for m in g.members} for g in summary.groups) == sorted(
        families.values()
    )
    phash_only = run_dedup(
        workspace.catalog,
        workspace.store,
        DedupConfig(
            workers=1,
            threshold=10,
            dry_run=True,
            full=True,
            colour_threshold=None,
            verify="colour",
        ),
    )
    assert (
        len(phash_only.groups) == 1
    )  # pHash alone joins them: the default's check keeps them apart


def test_cli_colour_threshold_option_reaches_the_decision(workspace: Workspace) -> None:
    red, blue = lookalike(5, (200, 30, 30)), lookalike(5, (30, 60, 200))
    add(workspace, jpeg(red), name="red")
    add(workspace, jpeg(blue), name="blue")
    home = str(workspace.settings.home)
    base = ["--home", home, "dedup", "--dry-run", "--full", "--workers", "1", "--threshold", "10"]
    base += ["--verify", "colour"]

    def groups(*extra: str) -> int:
        result = CliRunner().invoke(app, [*base, *extra], env={"COLUMNS": "150"})
        assert result.exit_code == 0, result.output
        (line,) = [line for line in result.output.splitlines() if line.startswith("│ groups")]
        return int(line.split("│")[2])

    assert groups() == 0  # the colour check tells the red car from the blue one
    assert groups("--colour-threshold", "-1") == 1  # pHash alone calls them duplicates
