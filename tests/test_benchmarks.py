"""The benchmark scripts at their smallest settings, and the like-for-like pieces of their tables
(issue 16): both dedup sides closed into groups the same way, label rows at equal counts with
their overlap, the production path of split units, both input pipelines in one table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` (a script folder, not a package)."""
    if f"benchmark_{name}" in sys.modules:
        return sys.modules[f"benchmark_{name}"]
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_split_units_times_the_production_path_and_agrees_with_the_baseline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["split_units.py", "--sizes", "200"])
    assert _script("split_units").main() == 0
    out = capsys.readouterr().out
    assert "find_units" in out and "production and baseline agree" in out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("200 "))
    assert row[-2:] == ["180", "20"]  # 20 reposts joined, 20 look-alikes kept apart


def test_imagededup_duplicates_are_closed_into_groups_like_ours() -> None:
    duplicates = {"a.jpg": ["b.jpg"], "b.jpg": ["a.jpg", "c.jpg"], "c.jpg": ["b.jpg"], "d.jpg": []}
    assert _script("dedup").peer_grouped_pairs(duplicates) == {("a", "b"), ("a", "c"), ("b", "c")}


def test_label_rows_flag_equal_counts_and_report_overlap_with_the_queue() -> None:
    label_issues = _script("label_issues")
    labels = np.array(["x"] * 10 + ["y"] * 10)
    kinds = np.array(["other_label", ""] * 10)
    score = np.arange(20, dtype=float)
    chosen = label_issues.top_share(score, labels, 0.2)
    assert chosen.sum() == 4 and chosen[[8, 9, 18, 19]].all()
    queue = np.zeros(20, bool)
    queue[[8, 9, 0, 1]] = True
    row = label_issues.report("r", chosen, kinds, score, queue)
    assert row[1] == "4" and row[6] == "50.0%"  # 2 of the queue's 4 photos
    assert row[2] == "0.500"  # 8 and 18 are wrong, 9 and 19 right


def test_input_pipeline_table_names_the_peer_and_pairs_every_setting(tmp_path: Path) -> None:
    train = _script("train")
    tree = train.generated_tree(tmp_path / "tree", per_class=6)
    table = train.bench_pipeline(tree / "train", 16, 4, repeats=2, passes=2)
    pipelines = list(table.columns[1].cells)
    assert pipelines.count("carscout / peer") == 3
    assert sum("image_dataset_from_directory" in cell for cell in pipelines) == 3
    assert any(".cache().prefetch()" in cell for cell in pipelines)
    assert all(cell.endswith("x") for cell in table.columns[2].cells if "x" in cell)
