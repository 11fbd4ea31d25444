"""The training commands through the real CLI: train, predict, evaluate, experiment data-size."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app

FAST = ["--source", "folder", "--model", "baseline", "--image-size", "32", "--epochs", "1",
        "--batch-size", "8", "--weights", "none"]  # fmt: skip


def test_train_predict_evaluate_commands(folder_tree: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    result = runner.invoke(
        app, [*home, "train", *FAST, "--data", str(folder_tree), "--name", "cli"]
    )
    assert result.exit_code == 0, result.output
    assert "validation" in result.output
    run_dir = tmp_path / "home" / "runs" / "cli"
    assert (run_dir / "model.keras").is_file()
    photo = sorted((folder_tree / "test" / "red_ellipse").glob("*.jpg"))[0]
    result = runner.invoke(app, [*home, "predict", str(photo), "--run", "cli"])
    assert result.exit_code == 0, result.output
    assert "red_ellipse" in result.output or "blue_box" in result.output
    result = runner.invoke(app, [*home, "evaluate", "cli"])
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "metrics.json").read_text())["test"]["count"] == 8


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

    result = CliRunner().invoke(
        app, ["--home", str(tmp_path), "train", "--model", "baseline", "--weights", "none"]
    )
    assert isinstance(result.exception, CarscoutError), result.exception
    assert "carscout split" in str(result.exception)
