"""`carscout import` end to end, including a run killed with SIGKILL and restarted."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from cli.app import app
from pipeline import schema as t
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg

CARSCOUT = [sys.executable, "-c", "from cli.app import main; main()"]


def _make_folder(
    root: Path, per_label: int, bad: int = 0, size: tuple[int, int] = (64, 48)
) -> Path:
    for label in ("swift", "wagon r"):
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_label):
            (folder / f"{i:04d}.jpg").write_bytes(small_jpeg(len(label) * 100_000 + i, size))
        for i in range(bad):
            (folder / f"bad{i}.jpg").write_bytes(b"<html>not found</html>")
        (folder / "notes.txt").write_text("ignored: not an image name")
    return root


def _catalog_snapshot(home: Path) -> dict[str, object]:
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        return {
            "images": sorted(conn.execute(sa.select(t.images.c.sha256, t.images.c.label)).all()),
            "sources": sorted(
                conn.execute(
                    sa.select(t.image_sources.c.source_path, t.image_sources.c.label)
                ).all()
            ),
        }


def _assert_store_consistent(home: Path) -> None:
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        rows = set(conn.execute(sa.select(t.images.c.store_path)).scalars())
        files = set(ws.store.iter_files())
        assert files == rows, "every file has a row and every row a file"
        assert list(ws.store.iter_temporaries()) == []
        for relative in files:
            assert ws.store.path(relative).stat().st_size > 0


def test_import_then_status_shows_the_right_counts(tmp_path: Path) -> None:
    folder = _make_folder(tmp_path / "photos", per_label=3, bad=2)
    home = tmp_path / "home"
    runner = CliRunner()
    result = runner.invoke(app, ["--home", str(home), "import", str(folder)])
    assert result.exit_code == 0, result.output
    assert "not_an_image" in result.output
    status = runner.invoke(app, ["--home", str(home), "status", "--failures"])
    assert status.exit_code == 0, status.output
    lines = [line for line in status.output.splitlines() if "swift" in line or "wagon r" in line]
    assert len(lines) == 2
    for line in lines:
        cells = [c.strip() for c in line.split("│") if c.strip()]
        assert cells[1:] == ["3", "0", "0", "0", "3"]
    assert "not_an_image" in status.output
    again = runner.invoke(app, ["--home", str(home), "import", str(folder)])
    known = next(line for line in again.output.splitlines() if "already in the catalog" in line)
    assert [c.strip() for c in known.split("│") if c.strip()] == ["already in the catalog", "6"]
    skipped = next(line for line in again.output.splitlines() if "skipped: not_an_image" in line)
    assert skipped.rstrip(" │").endswith(" 2"), "notes.txt in each label folder is counted"


def test_import_with_one_label_for_a_flat_folder(workspace: Workspace, tmp_path: Path) -> None:
    from pipeline.importer import import_folder

    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(2):
        (folder / f"{i}.jpg").write_bytes(small_jpeg(100 + i))
    summary = import_folder(workspace, folder, label="swift")
    assert (summary.stored, summary.by_label["swift"]) == (2, 2)


def test_killed_import_resumes_without_duplicates_or_partial_files(tmp_path: Path) -> None:
    folder = _make_folder(tmp_path / "photos", per_label=200, size=(320, 240))
    killed_home, clean_home = tmp_path / "killed", tmp_path / "clean"
    env = {**os.environ, "CARSCOUT_HOME": str(killed_home)}
    process = subprocess.Popen(
        [*CARSCOUT, "import", str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    catalog_file = killed_home / "catalog.sqlite"
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline and process.poll() is None:
        if catalog_file.exists():
            try:
                with sqlite3.connect(catalog_file, timeout=5) as raw:
                    stored = raw.execute("SELECT count(*) FROM images").fetchone()[0]
            except sqlite3.OperationalError:  # the schema is not there yet
                stored = 0
        if stored >= 40:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 40 <= stored < 400, "the kill must land in the middle of the import"

    rerun = subprocess.run([*CARSCOUT, "import", str(folder)], env=env, capture_output=True)
    assert rerun.returncode == 0, rerun.stderr
    clean = subprocess.run(
        [*CARSCOUT, "--home", str(clean_home), "import", str(folder)], capture_output=True
    )
    assert clean.returncode == 0, clean.stderr

    assert _catalog_snapshot(killed_home) == _catalog_snapshot(clean_home)
    assert len(_catalog_snapshot(killed_home)["images"]) == 400  # type: ignore[arg-type]
    _assert_store_consistent(killed_home)


def test_a_label_longer_than_the_catalog_holds_is_refused_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "photos" / ("x" * 201)
    folder.mkdir(parents=True)
    (folder / "0.jpg").write_bytes(small_jpeg(7))
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["--home", str(home), "import", str(folder.parent)])
    assert result.exit_code == 1 and result.exception is not None
    assert "201 characters long; labels are at most 200" in str(result.exception)
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.images)).scalar_one() == 0
    # 200 characters fit (PostgreSQL's VARCHAR(200) holds them; SQLite does too).
    folder.rename(folder.with_name("y" * 200))
    again = CliRunner().invoke(app, ["--home", str(home), "import", str(folder.parent)])
    assert again.exit_code == 0, again.output
