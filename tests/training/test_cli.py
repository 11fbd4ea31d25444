"""The training commands through the real CLI: train, predict, evaluate, experiment data-size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app

FAST = ["--source", "folder", "--model", "baseline", "--image-size", "32", "--epochs", "1",
        "--batch-size", "8", "--weights", "none"]  # fmt: skip


NAME = "baseline-folder-tree-run-with-a-long-name"


def test_train_predict_evaluate_commands(folder_tree: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    result = runner.invoke(app, [*home, "train", *FAST, "--data", str(folder_tree), "--name", NAME])
    assert result.exit_code == 0, result.output
    assert "validation" in result.output
    run_dir = tmp_path / "home" / "runs" / NAME
    assert (run_dir / "model.keras").is_file()
    photo = sorted((folder_tree / "test" / "red_ellipse").glob("*.jpg"))[0]
    result = runner.invoke(app, [*home, "predict", str(photo), "--run", NAME])
    assert result.exit_code == 0, result.output
    assert "red_ellipse" in result.output or "blue_box" in result.output
    # A non-image and a missing file each get their own line; the good photo is still
    # classified and the exit code says that some failed.
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    result = runner.invoke(
        app,
        [*home, "predict", str(text), str(photo), str(tmp_path / "gone.jpg"), "--run", NAME],
    )
    assert result.exit_code != 0
    assert "2 of 3 photo(s) could not be classified" in str(result.exception)
    flat = " ".join(result.output.split())
    assert "not an image" in flat and "no such file" in flat
    assert "red_ellipse" in flat or "blue_box" in flat
    result = runner.invoke(app, [*home, "predict", str(photo), "--run", NAME, "--box", "0,0,20,20"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*home, "evaluate", NAME])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "metrics.json").read_text())["test"]["count"] == 8
    # The grid of worst mistakes comes with the list of its photos.
    assert (run_dir / "worst_mistakes.csv").read_text().startswith("position,image_id,path")
    # `models` at 80 columns keeps the run name whole.
    listing = subprocess.run(
        [str(Path(sys.executable).with_name("carscout")), *home, "models"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        check=True,
    ).stdout
    assert NAME in listing, listing


def test_data_size_experiment(folder_tree: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["--home", str(tmp_path / "home"), "experiment", "data-size", "--fractions", "0.5,1.0",
         *FAST, "--data", str(folder_tree)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (out_dir,) = (tmp_path / "home" / "runs" / "experiments").iterdir()
    rows = json.loads((out_dir / "data_size.json").read_text())
    assert [r["train_photos"] for r in rows] == [12, 24]
    assert all(
        abs(r["gap"] - (r["train_accuracy"] - r["validation_accuracy"])) < 1e-9 for r in rows
    )
    assert (out_dir / "data_size.png").is_file() and (out_dir / "data_size.md").is_file()


def test_bad_options_give_one_line_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "experiment", "data-size", "--fractions", "0,2"]
    )
    assert result.exit_code != 0
    assert "fraction" in str(result.exception) + result.output


def test_training_on_the_catalog_without_a_split_says_how_to_make_one(tmp_path: Path) -> None:
    from pipeline.errors import CarscoutError
    from pipeline.workspace import Workspace

    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "train", "--model", "baseline", "--weights", "none"]
    )
    assert isinstance(result.exception, CarscoutError), result.exception
    assert "no catalog at" in str(result.exception)  # and none was created
    assert not (tmp_path / "catalog.sqlite").exists()
    Workspace.open(home=tmp_path).close()
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "train", "--model", "baseline", "--weights", "none"]
    )
    assert isinstance(result.exception, CarscoutError), result.exception
    message = str(result.exception)
    assert "carscout split" in message and "--version" not in message


def test_evaluate_says_whether_the_run_would_beat_the_champion(
    folder_tree: Path, tmp_path: Path
) -> None:
    import re

    from pipeline.workspace import Workspace
    from training.registry import list_models
    from training.registry_policy import judge
    from training.registry_roles import promote

    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    for name in ("first", "second"):
        result = runner.invoke(
            app, [*home, "train", *FAST, "--data", str(folder_tree), "--name", name]
        )
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*home, "evaluate", "first"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "Promotion: would be promoted: no champion before (evaluate changes no role)." in flat
    with Workspace.open(home=tmp_path / "home") as ws, ws.catalog.atomic() as conn:
        runs = {m.name: m.run_id for m in list_models(conn)}
        assert promote(conn, runs["first"]).promoted

    result = runner.invoke(app, [*home, "evaluate", "second"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    # Both runs were scored on the same test photos: the line says why, with McNemar's p.
    assert re.search(r"Promotion against the champion first: would (not )?be promoted: ", flat)
    with Workspace.open(home=tmp_path / "home") as ws, ws.catalog.reading() as conn:
        decision = judge(conn, runs["second"])
    assert decision.p_value is not None
    assert f"McNemar p={decision.p_value:.3g}" in flat
    assert decision.verdict(hypothetical=True) in flat
    with Workspace.open(home=tmp_path / "home") as ws, ws.catalog.reading() as conn:
        roles = {m.name: m.role for m in list_models(conn)}
    assert roles == {"first": "champion", "second": "challenger"}, "evaluate promotes nothing"
