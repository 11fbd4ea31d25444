"""The photos and the cached inputs of ``benchmarks/label_issues.py``: a real-photo set or the
demo site imported through ``pipeline.intake``, and pixels, features and out-of-fold CNN outputs
kept between runs under ``--cache-dir`` (the cached steps report the times of their first run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from curation.labels.features import (
    FEATURE_VERSION,
    SHAPE_SIZE,
    FeatureMatrix,
    compute_features,
    shape_features,
)
from curation.labels.issues import ScoreConfig, cnn_out_of_fold
from curation.labels.oof_cnn import CNN_VERSION, OutOfFoldCnn, load_pixels
from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace
from scrapers.demo_site.config import SiteConfig
from scrapers.demo_site.generator import generate_site


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


def cached_shape_features(paths: list[Path], cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`shape_features` of ``paths`` at ``SHAPE_SIZE``, read from / written to
    ``cache`` if given (the cached times are those of the first run)."""
    file = cache / f"shape-{FEATURE_VERSION}.npz" if cache else None
    if file is not None and file.exists():
        data = np.load(file)
        return data["features"], data["mirrored"]
    features, mirrored = shape_features(cached_pixels(paths, SHAPE_SIZE, cache))
    if file is not None:
        np.savez(file, features=features, mirrored=mirrored)
    return features, mirrored


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
        f"flip{int(config.cnn_flip)}-{config.cnn_seeds}s-b{config.cnn_batch}-seed{config.seed}-"
        f"snap{config.cnn_snapshots}-v{CNN_VERSION}"
        + (f"-cap{config.cnn_train_per_label}" if config.cnn_train_per_label is not None else "")
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


def realcars_photos(root: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Return ``(paths, labels, kinds)`` of a real-photo set laid out as ``photos/<label>/*.jpg``
    with a ``truth.json`` (see ``../shared/realcars-dev/README.md``); kind ``""`` means right.
    Exits with one line when the layout is not there."""
    truth_file = root / "truth.json"
    if not truth_file.is_file() or not (root / "photos").is_dir():
        sys.exit(f"{root} has no photos/ and truth.json; pass a folder like ../shared/realcars-dev")
    truth = json.loads(truth_file.read_text())["files"]
    paths = sorted((root / "photos").glob("*/*.jpg"))
    missing = [p for p in paths if f"{p.parent.name}/{p.name}" not in truth]
    if missing or not paths:
        sys.exit(f"{len(missing)} photos have no truth entry (first: {missing[:1]}); check {root}")
    kinds = [truth[f"{p.parent.name}/{p.name}"]["kind"] for p in paths]
    return (
        paths,
        np.array([p.parent.name for p in paths]),
        np.array(["" if kind == "right" else kind for kind in kinds]),
    )


def demo_photos(
    args: argparse.Namespace, cache: Path | None, tmp: Path
) -> tuple[list[Path], np.ndarray, np.ndarray, Path | None]:
    """Import the demo site's photos (unless the cached catalog is complete) through
    ``pipeline.intake``; return ``(paths, labels, kinds)`` in catalog order and the site's
    cache folder (None without ``cache``)."""
    config = SiteConfig() if args.listings is None else SiteConfig(listings_per_model=args.listings)
    if args.site_seed is not None:
        config = replace(config, seed=args.site_seed)
    site = generate_site(config)
    truth = {row["sha256"]: row for row in site.read_ground_truth()}
    cache = cache / config.content_key() if cache else None
    home = cache / "home" if cache else tmp / "home"
    with Workspace.open(home=home) as ws:
        done_marker = cache / "imported" if cache else None
        if done_marker is None or not done_marker.exists():
            for row in truth.values():
                intake_image(
                    ws.catalog,
                    ws.store,
                    site.photo_path(row["photo_id"]).read_bytes(),
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
        paths = [ws.store.path(r.store_path) for r in rows]
    labels = np.array([r.label for r in rows])
    kinds = np.array([truth[r.sha256]["wrong_kind"] for r in rows])
    return paths, labels, kinds, cache
