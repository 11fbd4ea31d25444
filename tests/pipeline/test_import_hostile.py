"""Hostile files and folders (issue 17, Intake): every entry of an imported folder is accounted
for, one bad file never stops the import, and nothing half-stored is left behind."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.app import app
from pipeline import schema as t
from pipeline.importer import import_folder
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg
from tests.pipeline.hostile_files import (
    DAMAGED_MULTIFRAME,
    assert_store_consistent,
    encode,
    failure_rows,
    float_tiff,
    lab_tiff,
    non_utf8_or_skip,
    photo,
    png_16bit_rgb,
    run_states,
    summary_rows,
    write,
)
from tests.pipeline.test_intake import CASES

# --- non-UTF-8 names --------------------------------------------------------------------------


def test_non_utf8_file_names_import_and_rerun(workspace: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "photos" / "swift"
    folder.mkdir(parents=True)
    non_utf8_or_skip(folder)
    write(folder, b"caf\xe9.jpg", small_jpeg(1))
    write(folder, b"broken-\xff.jpg", b"<html>gone</html>")
    write(folder, "zz-after.jpg", small_jpeg(2))

    first = import_folder(workspace, tmp_path / "photos")
    assert (first.stored, first.known, dict(first.rejected)) == (2, 0, {"not_an_image": 1})
    assert_store_consistent(workspace)
    assert run_states(workspace) == [("import", "ok")]
    with workspace.catalog.reading() as conn:
        paths = set(conn.execute(sa.select(t.image_sources.c.source_path)).scalars())
    assert str(folder.resolve() / "caf\\xe9.jpg") in paths
    assert failure_rows(workspace)[0].target == str(folder.resolve() / "broken-\\xff.jpg")

    again = import_folder(workspace, tmp_path / "photos")
    assert (again.stored, again.known, dict(again.rejected)) == (0, 2, {"not_an_image": 1})
    with workspace.catalog.reading() as conn:
        sources = conn.execute(sa.select(sa.func.count()).select_from(t.image_sources))
        assert sources.scalar_one() == 2
    assert run_states(workspace) == [("import", "ok"), ("import", "ok")]
    assert_store_consistent(workspace)


def test_non_utf8_name_through_the_cli_prints_no_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    non_utf8_or_skip(folder)
    write(folder, b"caf\xe9.jpg", small_jpeg(3))
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "import", str(folder), "--label", "swift"]
    )
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "stored (new)" in result.output


# --- one bad file never stops an import ----------------------------------------------------------


def test_import_goes_on_after_damaged_multiframe_files(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for index, (_, make, _, _) in enumerate(DAMAGED_MULTIFRAME):
        suffix = "gif" if index == 0 else "tif"
        write(folder, f"a{index}.{suffix}", make())  # type: ignore[operator]
    write(folder, "z-good.jpg", small_jpeg(4))
    summary = import_folder(workspace, folder, label="swift")
    assert summary.stored == 1
    assert summary.rejected == Counter(r for _, _, r, _ in DAMAGED_MULTIFRAME)
    assert run_states(workspace) == [("import", "ok")]
    assert_store_consistent(workspace)


def test_an_interrupted_import_is_not_left_running(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of two: the interruption lands after the first batch's commit.
    monkeypatch.setattr("pipeline.importer.IMPORT_BATCH", 2)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        write(folder, f"{i}.jpg", small_jpeg(10 + i))

    def stop(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_folder(workspace, folder, label="swift", progress=stop)
    assert run_states(workspace) == [("import", "interrupted")]
    again = import_folder(workspace, folder, label="swift")
    assert (again.known, again.stored) == (2, 1)


# --- skipped entries, decided by content ------------------------------------------------------


def _mixed_folder(root: Path) -> tuple[Path, Counter[str], int]:
    """Fill ``root/swift`` with photos under unusual names and entries that are not photos;
    return the folder, the skips expected by reason and the number of photos."""
    folder = root / "swift"
    folder.mkdir(parents=True)
    photos = {
        "p.ppm": encode(photo(20), "PPM"),
        "p.pgm": encode(photo(21, "L"), "PPM"),
        "p.pbm": encode(photo(22, "1"), "PPM"),
        "p.jfif": encode(photo(23), "JPEG"),
        "p.jpe": encode(photo(24), "JPEG"),
        "p.mpo": encode(photo(25), "MPO", save_all=True, append_images=[photo(26)]),
        "no-extension": encode(photo(27), "PNG"),
        "photo.dat": encode(photo(28), "WEBP"),
    }
    for name, data in photos.items():
        write(folder, name, data)
    write(folder, "drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="64"/>')
    write(folder, "notes.txt", b"seller's notes")
    write(folder, ".DS_Store", b"\0\0\0\1Bud1")
    os.mkfifo(folder / "pipe.jpg")
    (folder / "gone.jpg").symlink_to(root / "nowhere.jpg")
    (folder / "more").mkdir()
    skipped = Counter(
        {"not_an_image": 2, "hidden": 1, "special_file": 1, "dangling_link": 1, "sub_folder": 1}
    )
    return folder, skipped, len(photos)


def test_skipped_entries_are_decided_by_content_and_counted(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder, skipped, photos = _mixed_folder(tmp_path / "photos")
    summary = import_folder(workspace, tmp_path / "photos")
    assert (summary.stored, dict(summary.rejected)) == (photos, {})
    assert summary.skipped == skipped
    assert summary.total == len(os.listdir(folder))
    with workspace.catalog.reading() as conn:
        formats = Counter(conn.execute(sa.select(t.images.c.format)).scalars())
    assert formats == {"PNG": 4, "JPEG": 3, "WEBP": 1}  # PPM/PGM/PBM and PNG; JPEGs and MPO
    with workspace.catalog.reading() as conn:
        run = conn.execute(sa.select(t.runs)).one()
    assert run.summary["skipped"] == dict(skipped)


def test_cli_summary_lists_every_skip_reason(tmp_path: Path) -> None:
    folder, skipped, photos = _mixed_folder(tmp_path / "photos")
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "import", str(tmp_path / "photos")]
    )
    assert result.exit_code == 0, result.output
    rows = summary_rows(result.output)
    skipped_rows = {k.split()[1]: v for k, v in rows.items() if k.startswith("skipped:")}
    assert skipped_rows == skipped
    assert (rows["stored (new)"], rows["total"]) == (photos, photos + sum(skipped.values()))


# --- symbolic links ---------------------------------------------------------------------------


def _linked_folder(tmp_path: Path) -> Path:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write(outside, "private.jpg", small_jpeg(40))
    write(outside, "secret.txt", b"root:x:0:0:root:/root:/bin/bash\n")
    folder = tmp_path / "photos" / "swift"
    folder.mkdir(parents=True)
    write(folder, "own.jpg", small_jpeg(41))
    (folder / "private.jpg").symlink_to(outside / "private.jpg")
    (folder / "passwd.jpg").symlink_to(outside / "secret.txt")
    (folder / "alias.jpg").symlink_to(folder / "own.jpg")  # inside the folder: followed
    (tmp_path / "photos" / "wagonr").symlink_to(outside, target_is_directory=True)
    return tmp_path / "photos"


def test_links_out_of_the_folder_are_not_followed(workspace: Workspace, tmp_path: Path) -> None:
    photos = _linked_folder(tmp_path)
    summary = import_folder(workspace, photos)
    assert (summary.stored, summary.known, dict(summary.rejected)) == (1, 1, {})
    assert summary.skipped == {"link_outside_folder": 3}
    assert failure_rows(workspace) == []
    with workspace.catalog.reading() as conn:
        paths = set(conn.execute(sa.select(t.image_sources.c.source_path)).scalars())
    root = str(photos.resolve())
    assert paths == {f"{root}/swift/own.jpg", f"{root}/swift/alias.jpg"}


def test_follow_links_takes_them_in_under_the_folder_path(tmp_path: Path) -> None:
    photos = _linked_folder(tmp_path)
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["--home", str(home), "import", str(photos), "--follow-links"])
    assert result.exit_code == 0, result.output
    with Workspace.open(home=home) as ws:
        failures = failure_rows(ws)
        with ws.catalog.reading() as conn:
            paths = set(conn.execute(sa.select(t.image_sources.c.source_path)).scalars())
    root = str(photos.resolve())
    # wagonr/ is the outside folder: its photo and its text file are looked at too.
    assert f"{root}/swift/private.jpg" in paths and f"{root}/wagonr/private.jpg" in paths
    assert [(f.reason, f.target) for f in failures] == [
        ("not_an_image", f"{root}/swift/passwd.jpg")
    ]
    assert all(str(tmp_path / "elsewhere") not in p for p in paths)


# --- the whole hostile folder -----------------------------------------------------------------


def test_a_folder_of_hostile_files_is_accounted_for(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    folder, _, _ = _mixed_folder(photos)
    for index, (_, make, _, _) in enumerate(CASES):
        write(folder, f"case-{index:02d}.{'jpg' if index % 2 else 'bin'}", make())
    for index, (_, make, _, _) in enumerate(DAMAGED_MULTIFRAME):
        write(folder, f"damaged-{index}.tif", make())  # type: ignore[operator]
    write(folder, "sixteen.png", png_16bit_rgb())
    write(folder, "lab.tif", lab_tiff())
    write(folder, "nan.tif", float_tiff(nan=True))
    (folder / "passwd.jpg").symlink_to("/etc/passwd")
    with contextlib.suppress(OSError):  # a file system without such names: the rest counts
        write(folder, b"caf\xe9.jpg", small_jpeg(50))
    (photos / "loose.jpg").write_bytes(small_jpeg(51))

    home = tmp_path / "home"
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(home), "import", str(photos)])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    entries = len(os.listdir(os.fsencode(folder))) + len(os.listdir(photos)) - 1
    rows = summary_rows(result.output)
    assert rows["total"] == entries
    assert sum(v for k, v in rows.items() if k != "total") == entries
    with Workspace.open(home=home) as ws:
        assert_store_consistent(ws)
        assert run_states(ws) == [("import", "ok")]
        with ws.catalog.reading() as conn:
            summary = conn.execute(sa.select(t.runs.c.summary)).scalar_one()
            failures = conn.execute(sa.select(sa.func.count()).select_from(t.failures))
            assert sum(summary["rejected"].values()) == failures.scalar_one()
    accounted = (
        summary["stored"]
        + summary["known"]
        + sum(summary["rejected"].values())
        + sum(summary["skipped"].values())
    )
    assert accounted == entries
    again = runner.invoke(app, ["--home", str(home), "import", str(photos)])
    assert again.exit_code == 0, again.output
    again_rows = summary_rows(again.output)
    assert again_rows["stored (new)"] == 0
    assert again_rows["already in the catalog"] == summary["stored"] + summary["known"]
