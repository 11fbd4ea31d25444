"""Export: folder-per-class tree with a manifest, read back by Keras."""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from typer.testing import CliRunner

from curation.splits.build import build_split
from curation.splits.export import export_split, label_from_folder, read_manifest, safe_folder_name
from curation.splits.stored import load_split
from pipeline import schema as t
from pipeline.catalog import change_image
from pipeline.errors import CarscoutError
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace

LABELS = ("swift", "VW Golf/GTI")


def _photo(rng: np.random.Generator, fmt: str = "JPEG") -> bytes:
    pixels = np.clip(
        rng.integers(0, 256, size=3) + rng.integers(-30, 31, size=(40, 40, 3)), 0, 255
    ).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, fmt)
    return out.getvalue()


@pytest.fixture
def split_workspace(workspace: Workspace) -> Workspace:
    """Ten photos per label (pairs share a listing, one WEBP each), split 6/2/2 per label."""
    rng = np.random.default_rng(0)
    for label in LABELS:
        for pair in range(5):
            with workspace.catalog.atomic() as conn:
                listing_id = conn.execute(
                    sa.insert(t.listings).values(
                        site="demo", url=f"http://127.0.0.1/{label}/{pair}", label=label
                    )
                ).inserted_primary_key[0]
            for shot in range(2):
                fmt = "WEBP" if (pair, shot) == (0, 0) else "JPEG"
                result = intake_image(
                    workspace.catalog,
                    workspace.store,
                    _photo(rng, fmt),
                    Provenance(label=label, listing_id=listing_id, source_path=f"{pair}{shot}"),
                )
                assert result.outcome == "stored"
    build_split(workspace, sizes=(12, 4, 4), seed=0)
    return workspace


def test_safe_folder_names_are_reversible() -> None:
    for label in ("swift", "VW Golf/GTI", "..", ".hidden", "50%", "Škoda Octavia", "a\\b:c*?"):
        folder = safe_folder_name(label)
        assert label_from_folder(folder) == label
        assert "/" not in folder and "\\" not in folder and not folder.startswith(".")
        assert folder.isascii()
    assert safe_folder_name("swift") == "swift"


def test_export_writes_tree_and_manifest_that_keras_reads(
    split_workspace: Workspace, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    result = export_split(split_workspace, out)

    assignments = load_split(split_workspace)
    assert result.total == len(assignments) == 20
    assert result.converted == 2 and result.linked + result.copied == 18  # a WEBP per label
    rows = read_manifest(out)
    assert len(rows) == 20
    assert {r["sha256"] for r in rows} == {a.sha256 for a in assignments}
    for row in rows:
        path = out / row["path"]
        assert path.is_file()
        assert row["path"].split("/")[0] == row["split"]
        assert label_from_folder(row["path"].split("/")[1]) == row["label"]
        assert row["listing"].startswith("http://127.0.0.1/")
    store_file = {a.sha256: a.path for a in assignments}
    linked = [r for r in rows if os.path.samefile(out / r["path"], store_file[r["sha256"]])]
    assert len(linked) == result.linked

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    for subset in ("train", "validation", "test"):
        dataset = keras.utils.image_dataset_from_directory(
            out / subset, image_size=(40, 40), batch_size=64, shuffle=False, verbose=False
        )
        labels = [dataset.class_names[i] for _, y in dataset for i in y.numpy().tolist()]
        counted = Counter(label_from_folder(folder) for folder in labels)
        expected = Counter(r["label"] for r in rows if r["split"] == subset)
        assert counted == expected
        assert sorted(counted) == sorted(LABELS)
        assert sum(counted.values()) == {"train": 12, "validation": 4, "test": 4}[subset]


def test_export_leaves_out_unusable_images_and_protects_folders(
    split_workspace: Workspace, tmp_path: Path
) -> None:
    victim = load_split(split_workspace)[0]
    with split_workspace.catalog.atomic() as conn:
        change_image(conn, victim.image_id, actor="review", status="rejected")
    out = tmp_path / "export"

    first = export_split(split_workspace, out, link=False)

    assert first.skipped_unusable == 1 and first.total == 19 and first.linked == 0
    assert victim.sha256 not in {r["sha256"] for r in read_manifest(out)}
    copied = next(out.glob("train/*/*.jpg"))
    assert copied.stat().st_nlink == 1
    with pytest.raises(CarscoutError, match="--overwrite"):
        export_split(split_workspace, out)
    assert export_split(split_workspace, out, overwrite=True).total == 19
    assert len(read_manifest(out)) == 19

    stranger = tmp_path / "holiday-photos"
    stranger.mkdir()
    (stranger / "beach.jpg").write_bytes(b"x")
    with pytest.raises(CarscoutError, match="not empty"):
        export_split(split_workspace, stranger, overwrite=True)
    assert (stranger / "beach.jpg").read_bytes() == b"x"


def test_export_command(split_workspace: Workspace, tmp_path: Path) -> None:
    from cli.app import app

    home = str(split_workspace.settings.home)
    out = tmp_path / "cli-export"
    result = CliRunner().invoke(app, ["--home", home, "export", str(out)])
    assert result.exit_code == 0, result.output
    assert "VW%20Golf%2FGTI" in result.output
    assert len(read_manifest(out)) == 20
