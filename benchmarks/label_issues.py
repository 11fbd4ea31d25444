"""Benchmark: how well the review queue finds the demo marketplace's wrong photos.

One run, side by side on the same out-of-fold probabilities:

* carscout's queue (top 12 % of each label by issue score, :func:`select_top`), the same with
  a share of the budget reserved for outliers, and the old ranking by ``max(issue, outlier)``,
* a plain self-confidence ranking (lowest p[label], same budget),
* cleanlab's ``find_label_issues`` (its own count), run in ``.venv-peers`` so that cleanlab
  never enters the project's environment (created by this script on first use).

Photos come from the default demo site (generated or read from its cache), imported through
``pipeline.intake`` into a temporary workspace and labelled as listed; the ground truth file
says which are wrong and how. Target: recall >= 0.90 at 12 % and at least cleanlab's F1.

Timings are wall and CPU seconds (this process and its children). With ``--cache-dir`` the
catalog, pixels and the CNN's outputs (keyed by every ``--cnn-*`` setting) are kept, so a rerun
repeats only the ranking; the cached CNN's times are those of its first run.

Run: ``.venv/bin/python benchmarks/label_issues.py --cache-dir DIR [--cnn-folds 3 ...]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.labels.features import FEATURE_VERSION, FeatureMatrix, compute_features  # noqa: E402
from curation.labels.issues import (  # noqa: E402
    ScoreConfig,
    cnn_out_of_fold,
    resolve_source,
    score_features,
    scores_from_cnn,
)
from curation.labels.oof_cnn import OutOfFoldCnn, load_pixels  # noqa: E402
from curation.review.queue import OUTLIER_SHARE, outlier_component, select_top  # noqa: E402
from pipeline import schema as t  # noqa: E402
from pipeline.intake import Provenance, intake_image  # noqa: E402
from pipeline.workspace import Workspace  # noqa: E402
from scrapers.demo_site.config import SiteConfig  # noqa: E402
from scrapers.demo_site.generator import GeneratedSite, generate_site  # noqa: E402

PEERS = ROOT / ".venv-peers"
CLEANLAB_SNIPPET = """
import json, sys, numpy as np
from cleanlab.filter import find_label_issues
data = np.load(sys.argv[1])
mask = find_label_issues(data["labels"], data["probs"], filter_by="prune_by_noise_rate")
print(json.dumps(mask.tolist()))
"""


def peers_python() -> Path:
    """Return the python of ``.venv-peers``, creating it with cleanlab on first use."""
    python = PEERS / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
    probe = subprocess.run([str(python), "-c", "import cleanlab"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "cleanlab==2.9.0", "numpy", "scikit-learn"],
            check=True,
        )
    return python


def cleanlab_mask(labels: np.ndarray, probs: np.ndarray, workdir: Path) -> np.ndarray | None:
    """Return cleanlab's issue mask for the same probabilities, or None if it cannot run."""
    try:
        python = peers_python()
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"cleanlab unavailable ({exc}); its row is left out")
        return None
    data = workdir / "probs.npz"
    np.savez(data, labels=labels, probs=probs)
    out = subprocess.run(
        [str(python), "-c", CLEANLAB_SNIPPET, str(data)], capture_output=True, text=True, check=True
    )
    return np.array(json.loads(out.stdout.strip().splitlines()[-1]), dtype=bool)


def top_share(scores: np.ndarray, labels: np.ndarray, share: float) -> np.ndarray:
    """Return a mask of the ``share`` highest scores within each label."""
    chosen = np.zeros(len(scores), bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        chosen[rows[np.argsort(-scores[rows], kind="stable")[: math.ceil(share * len(rows))]]] = (
            True
        )
    return chosen


def queue_mask(
    issue: np.ndarray, outlier: np.ndarray, labels: np.ndarray, share: float, outlier_share: float
) -> np.ndarray:
    """Return a mask of what the review queue's :func:`select_top` picks within each label."""
    chosen = np.zeros(len(issue), bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        count = math.ceil(share * len(rows))
        picked = select_top(issue[rows].tolist(), outlier[rows].tolist(), count, outlier_share)
        chosen[rows[picked]] = True
    return chosen


def report(name: str, chosen: np.ndarray, kinds: np.ndarray) -> list[str]:
    """Return a table row: queued, precision, recall, F1 and recall per wrong kind."""
    wrong = kinds != ""
    tp = int((chosen & wrong).sum())
    precision = tp / max(int(chosen.sum()), 1)
    recall = tp / max(int(wrong.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    per_kind = [
        f"{(chosen & (kinds == k)).sum() / max((kinds == k).sum(), 1):.2f}"
        for k in sorted(set(kinds) - {""})
    ]
    return [
        name,
        str(int(chosen.sum())),
        f"{precision:.3f}",
        f"{recall:.3f}",
        f"{f1:.3f}",
        *per_kind,
    ]


def cached_features(
    paths: list[Path], source: str, weights: Path | None, cache: Path | None
) -> FeatureMatrix:
    """Return :func:`compute_features` of ``paths``, read from / written to ``cache`` if given."""
    if cache is None:
        return compute_features(paths, source, weights)
    file = cache / f"features-{source}-{FEATURE_VERSION}.npz"
    if file.exists():
        data = np.load(file)
        return FeatureMatrix(data["matrix"], str(data["source"]))
    features = compute_features(paths, source, weights)
    np.savez(file, matrix=features.matrix, source=features.source)
    return features


def cached_pixels(paths: list[Path], size: int, cache: Path | None) -> np.ndarray:
    """Return :func:`load_pixels` of ``paths``, read from / written to ``cache`` if given."""
    if cache is None:
        return load_pixels(paths, size)
    file = cache / f"pixels-{size}.npy"
    if file.exists():
        return np.load(file)
    pixels = load_pixels(paths, size)
    np.save(file, pixels)
    return pixels


def cached_cnn(
    pixels: np.ndarray, labels: list[str], config: ScoreConfig, cache: Path | None
) -> tuple[OutOfFoldCnn, float, float]:
    """Return the out-of-fold CNN of ``pixels`` with its (wall, CPU) seconds, read from / written
    to ``cache`` under a key of every CNN setting (the cached times are those of the first run).
    """
    key = (
        f"cnn-{config.cnn_size}px-{config.cnn_folds}f-{config.cnn_epochs}e-"
        f"flip{int(config.cnn_flip)}-{config.cnn_seeds}s-b{config.cnn_batch}-seed{config.seed}"
    )
    file = cache / f"{key}.npz" if cache else None
    if file is not None and file.exists():
        data = np.load(file)
        oof = OutOfFoldCnn(
            data["probabilities"],
            [str(c) for c in data["classes"]],
            data["embeddings"],
            data["fold"],
            str(data["source"]),
        )
        return oof, float(data["wall"]), float(data["cpu"])
    started, cpu = time.perf_counter(), cpu_seconds()
    oof = cnn_out_of_fold(pixels, labels, config)
    wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if file is not None:
        np.savez(
            file,
            probabilities=oof.probabilities,
            classes=np.array(oof.classes),
            embeddings=oof.embeddings,
            fold=oof.fold,
            source=oof.source,
            wall=wall,
            cpu=cpu,
        )
    return oof, wall, cpu


def cpu_seconds() -> float:
    """Return the CPU seconds of this process and its finished children."""
    children = os.times()
    return time.process_time() + children.children_user + children.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=None, help="listings per model")
    parser.add_argument("--budget", type=float, default=0.12)
    parser.add_argument(
        "--features", default="auto", help="auto, offline (out-of-fold CNN), backbone or handmade"
    )
    parser.add_argument("--weights", type=Path, default=None, help="backbone weights file")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="keep the imported catalog and the features here between runs (same site only)",
    )
    defaults = ScoreConfig()
    parser.add_argument("--cnn-size", type=int, default=defaults.cnn_size, help="CNN pixels")
    parser.add_argument("--cnn-folds", type=int, default=defaults.cnn_folds, help="CNN folds")
    parser.add_argument("--cnn-epochs", type=int, default=defaults.cnn_epochs, help="CNN epochs")
    parser.add_argument(
        "--cnn-flip", type=int, default=int(defaults.cnn_flip), help="1: mirror augmentation"
    )
    parser.add_argument("--cnn-seeds", type=int, default=defaults.cnn_seeds, help="CNN seeds")
    parser.add_argument("--cnn-batch", type=int, default=defaults.cnn_batch, help="batch size")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="fold split / init seed")
    args = parser.parse_args()
    config = SiteConfig() if args.listings is None else SiteConfig(listings_per_model=args.listings)
    site = generate_site(config)
    truth = {row["sha256"]: row for row in site.read_ground_truth()}
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache_dir / config.content_key() if args.cache_dir else None
        home = cache / "home" if cache else Path(tmp) / "home"
        with Workspace.open(home=home) as ws:
            run(args, site, truth, ws, cache, Path(tmp))


def run(
    args: argparse.Namespace,
    site: GeneratedSite,
    truth: dict[str, dict[str, str]],
    ws: Workspace,
    cache: Path | None,
    tmp: Path,
) -> None:
    """Import (unless the cached catalog is complete), score, and print the table."""
    started = time.perf_counter()
    done_marker = cache / "imported" if cache else None
    if done_marker is None or not done_marker.exists():
        for row in truth.values():
            data = site.photo_path(row["photo_id"]).read_bytes()
            intake_image(
                ws.catalog,
                ws.store,
                data,
                Provenance(label=row["listed_model"], source_path=row["photo_id"]),
            )
        if done_marker is not None:
            done_marker.touch()
    with ws.catalog.reading() as conn:
        rows = conn.execute(
            sa.select(t.images.c.sha256, t.images.c.label, t.images.c.store_path).order_by(
                t.images.c.id
            )
        ).all()
    intake_s = time.perf_counter() - started
    labels = np.array([r.label for r in rows])
    kinds = np.array([truth[r.sha256]["wrong_kind"] for r in rows])
    started, cpu = time.perf_counter(), cpu_seconds()
    paths = [ws.store.path(r.store_path) for r in rows]
    score_config = ScoreConfig(
        source=args.features,
        weights=args.weights,
        cnn_size=args.cnn_size,
        cnn_folds=args.cnn_folds,
        cnn_epochs=args.cnn_epochs,
        cnn_flip=bool(args.cnn_flip),
        cnn_seeds=args.cnn_seeds,
        cnn_batch=args.cnn_batch,
        seed=args.seed,
    )
    source = resolve_source(score_config)
    if source == "offline":
        pixels = cached_pixels(paths, score_config.cnn_size, cache)
        feature_s, feature_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        oof, score_s, score_cpu = cached_cnn(pixels, list(labels), score_config, cache)
        scores = scores_from_cnn(oof, list(labels), score_config)
    else:
        features = cached_features(paths, source, args.weights, cache)
        feature_s, feature_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        started, cpu = time.perf_counter(), cpu_seconds()
        scores = score_features(features.matrix, list(labels), score_config, features.source)
        score_s, score_cpu = time.perf_counter() - started, cpu_seconds() - cpu
    old_queue = np.array(
        [max(i, outlier_component(o)) for i, o in zip(scores.issue, scores.outlier, strict=True)]
    )
    y = np.array([scores.classes.index(label) for label in labels])
    self_confidence = scores.probabilities[np.arange(len(y)), y]
    mask = cleanlab_mask(y, scores.probabilities, tmp)
    print(
        f"{len(rows)} images ({int((kinds != '').sum())} wrong), source {scores.feature_source}\n"
        f"[intake {intake_s:.0f}s, features/pixels {feature_s:.0f}s wall / {feature_cpu:.0f}s CPU, "
        f"scoring {score_s:.0f}s wall / {score_cpu:.0f}s CPU]"
    )
    header = ["method", "queued", "precision", "recall", "F1", *sorted(set(kinds) - {""})]
    issue, outlier, budget = scores.issue, scores.outlier, args.budget
    table = [
        report(
            f"carscout queue ({budget:.0%}/label, outlier share {OUTLIER_SHARE:.0%})",
            queue_mask(issue, outlier, labels, budget, OUTLIER_SHARE),
            kinds,
        ),
        *(
            report(
                f"issue + {share:.0%} of budget to outliers",
                queue_mask(issue, outlier, labels, budget, share),
                kinds,
            )
            for share in (0.1, 0.2)
            if share != OUTLIER_SHARE
        ),
        report(
            "baseline: max(issue, outlier from 2x)", top_share(old_queue, labels, budget), kinds
        ),
        report("self-confidence (same budget)", top_share(-self_confidence, labels, budget), kinds),
    ]
    if mask is not None:
        table.append(report("cleanlab find_label_issues", mask, kinds))
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for row in [header, *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print("target: recall >= 0.90 at 12 % per label, F1 >= cleanlab's")


if __name__ == "__main__":
    main()
