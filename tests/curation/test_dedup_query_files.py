"""check-leaks reads only regular image files and reports every file it does not check."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from curation.dedup.query import query_folder, scan_folder
from pipeline.workspace import Workspace
from tests.curation.test_dedup import add, copies, jpeg, scene


def bomb_png(width: int = 40_000, height: int = 40_000) -> bytes:
    """A tiny PNG whose header claims 1.6 gigapixels: past Pillow's decompression-bomb limit."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(bomb_png())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "big.jpg").write_bytes(b"\xff\xd8" + b"\x00" * 300_000)
    os.mkfifo(folder / "pipe.jpg")
    (folder / "notes.txt").write_text("ignored: not an image name")
    return folder


def test_scan_folder_lists_only_regular_files_and_says_why_others_are_skipped(
    odd_folder: Path,
) -> None:
    files, skipped = scan_folder(odd_folder, max_bytes=200_000)
    assert [p.name for p in files] == ["bomb.png", "broken.jpg"]
    assert [(Path(p).name, why.split(":")[0]) for p, why in skipped] == [
        ("big.jpg", "too large"),
        ("pipe.jpg", "not a regular file (fifo)"),
    ]


@pytest.mark.timeout(60)
def test_query_folder_reports_bomb_fifo_and_broken_files_per_file(
    workspace: Workspace, odd_folder: Path
) -> None:
    photo = scene(81)
    image_id = add(workspace, jpeg(photo), name="train")
    (odd_folder / "leak.jpg").write_bytes(copies(photo)["resized"])

    report = query_folder(
        workspace.catalog, workspace.store, odd_folder, workers=1, max_bytes=200_000
    )

    assert [(Path(m.path).name, m.image_id) for m in report.matches] == [("leak.jpg", image_id)]
    why = {Path(p).name: reason for p, reason in report.failures}
    assert sorted(why) == ["big.jpg", "bomb.png", "broken.jpg", "pipe.jpg"]
    assert "DecompressionBombError" in why["bomb.png"]
    assert why["pipe.jpg"] == "not a regular file (fifo)"
    assert report.scanned == 5


@pytest.mark.timeout(60)
def test_check_leaks_command_prints_a_line_per_unchecked_file(
    workspace: Workspace, odd_folder: Path
) -> None:
    add(workspace, jpeg(scene(82)), name="train")
    home = str(workspace.settings.home)
    result = CliRunner().invoke(
        app,
        ["--home", home, "check-leaks", str(odd_folder), "--workers", "1"]
        + ["--colour-threshold", "30", "--max-bytes", "200000"],
    )
    assert result.exit_code == 0, result.output
    for name in ("bomb.png", "pipe.jpg", "broken.jpg", "big.jpg"):
        assert f"{name}:" in result.output
