"""``--features auto`` without ImageNet weights: the offline source chosen on the photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from curation.labels.auto_source import choose_offline, out_of_fold_log_loss
from curation.labels.config import Scores
from curation.labels.probabilities import label_issue_scores
from pipeline.workspace import Workspace
from tests.curation.label_photos import populate


def _scores(p_first: np.ndarray, labels: list[str], name: str) -> Scores:
    """Return :class:`Scores` of a two-class source whose probability of ``a`` is ``p_first``."""
    classes = ["a", "b"]
    probabilities = np.column_stack([p_first, 1.0 - p_first])
    issue, suggested = label_issue_scores(probabilities, labels, classes)
    return Scores(labels, classes, probabilities, issue, np.ones(len(labels)), suggested, name)


def _two_sources(seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Return listed labels (10 % wrong), which are wrong, and two sources' P(a): each sees the
    truth clearly on its own half of the photos and guesses on the other half."""
    rng = np.random.default_rng(seed)
    n = 400
    truth = np.array(["a", "b"] * (n // 2))
    wrong = rng.random(n) < 0.1
    listed = np.where(wrong, np.where(truth == "a", "b", "a"), truth)
    clear = np.where(truth == "a", 0.95, 0.05)
    unsure = np.clip(0.5 + rng.normal(0.0, 0.15, n), 0.05, 0.95)
    half = np.arange(n) < n // 2
    first = np.where(half, clear, unsure)
    second = np.where(half, unsure, clear)
    return [str(x) for x in listed], wrong, first, second


def test_complementary_sources_are_stacked_and_the_line_says_why() -> None:
    labels, wrong, first, second = _two_sources()
    cnn, shape = _scores(first, labels, "cnn-src"), _scores(second, labels, "shape-src")
    scores, choice = choose_offline(cnn, shape)
    assert choice.chosen == "stacked"
    assert choice.log_loss["stacked"] < min(choice.log_loss["offline"], choice.log_loss["shape"])
    assert scores.feature_source == "stacked(cnn-src+shape-src)"
    assert out_of_fold_log_loss(scores.probabilities, labels, ["a", "b"]) == pytest.approx(
        choice.log_loss["stacked"]
    )
    # The blend finds the wrong photos that either source alone misses on its unsure half.
    top = np.argsort(-scores.issue)[: int(wrong.sum())]
    alone = max(np.sum(wrong[np.argsort(-s.issue)[: int(wrong.sum())]]) for s in (cnn, shape))
    assert wrong[top].sum() > alone
    assert choice.line.startswith("auto chose the stacked blend: out-of-fold log-loss")
    assert f"{choice.log_loss['offline']:.3f}" in choice.line
    assert f"{choice.log_loss['shape']:.3f}" in choice.line


def test_a_source_that_only_guesses_is_not_chosen() -> None:
    labels, _wrong, first, _second = _two_sources(seed=1)
    guess = np.full(len(labels), 0.5)
    informed = np.where(np.array(labels) == "a", 0.9, 0.1)  # sees the listed labels clearly
    scores, choice = choose_offline(_scores(guess, labels, "cnn"), _scores(informed, labels, "s"))
    assert choice.chosen in ("shape", "stacked")
    assert choice.log_loss[choice.chosen] < choice.log_loss["offline"] == pytest.approx(np.log(2))
    with pytest.raises(ValueError, match="same photos and labels"):
        choose_offline(_scores(first, labels, "cnn"), _scores(first, labels[::-1], "s"))


def test_score_command_shows_the_choice(workspace: Workspace, tmp_path: Path) -> None:
    from cli.app import app

    populate(workspace, correct=6)
    home = str(tmp_path / "home")  # the workspace fixture's home
    result = CliRunner().invoke(
        app, ["--home", home, "score", "--folds", "2"], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"
    line = next(x for x in result.output.splitlines() if x.startswith("auto chose the "))
    assert "out-of-fold log-loss against the listed labels" in line
    assert "no ImageNet weights" in line
