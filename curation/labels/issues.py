"""Score every active image by how likely its label is wrong, and how unlike a car it looks.

Scoring sources (``ScoreConfig.source``):

* ``offline`` — out-of-fold probabilities and embeddings of a small CNN trained on the photos
  themselves (:mod:`curation.labels.oof_cnn`); needs no download.
* ``shape`` — gradient-orientation (HOG-like) grids of 128-px photos and their mirror images,
  classified out of fold by an RBF kernel map + logistic regression (:func:`shape_out_of_fold`);
  no download, ~35 s CPU for 1,248 photos. On real photos (``../shared/realcars-dev``) it finds
  more wrong photos than the CNN (recall 0.64 against 0.52 at 12 %, AUROC 0.86 against 0.78),
  on the demo site's drawings far fewer (0.53 against 0.94: it cannot tell an interior or a
  document from a car): see ``benchmarks/label_issues.py``.
* ``combined`` — the mean of ``offline``'s and ``shape``'s probabilities.
* ``backbone`` / ``handmade`` — a feature matrix (:mod:`curation.labels.features`) and a
  linear model fit out of fold on it.
* ``auto`` (default) — ``backbone`` when its weights are on disk or downloadable
  (:mod:`pipeline.weights`), else the offline CNN, the shape features or their stacked blend,
  whichever predicts the listed labels best out of fold (:mod:`curation.labels.auto_source`);
  the stored ``feature_source`` says which was used and the run's ``choice`` line why.

Steps (each a plain function, so the benchmark can reuse them on the same numbers):

1. :func:`out_of_fold_probabilities` (feature sources) or
   :func:`curation.labels.oof_cnn.out_of_fold_cnn` — class probabilities over a stratified K-fold:
   every image is scored by a model that never saw it.
2. :func:`label_issue_scores` — confident-learning style: self-confidence, the normalized margin
   ``(p[label] - max other p + 1) / 2``, and per-class thresholds (a class's mean self-confidence)
   that decide whether another class is confident enough to be suggested.
3. :func:`outlier_scores` — mean distance to the k nearest neighbours *with the same label*
   (within one fold for CNN embeddings), divided by that label's median: about 1 for a typical
   photo, well above for an interior, a document or an empty street. k grows with the label
   (``neighbour_share`` of it) because wrong photos of one kind form small tight clusters: with
   a k below the cluster size their neighbours are each other and they look typical.

:func:`score_catalog` runs them on the catalog and stores one ``label_scores`` row per image
with the run, the feature source and the model that produced it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from curation.labels.auto_source import AUTO_SHAPE_MAX_ROWS, choose_offline, cnn_only_line
from curation.labels.config import (
    CNN_MODEL_NAME,
    MODEL_NAME,
    SCORE_SOURCES,
    SHAPE_MODEL_NAME,
    ScoreConfig,
    ScoreRun,
    Scores,
)
from curation.labels.features import (
    CNN_SOURCES,
    SHAPE_GRIDS,
    SHAPE_SIZE,
    fetch_backbone_weights,
    find_backbone_weights,
)
from curation.labels.inputs import image_inputs, join_inputs
from curation.labels.oof_cnn import OutOfFoldCnn, pixel_buffer
from curation.labels.probabilities import (
    cnn_out_of_fold,
    label_issue_scores,
    out_of_fold_probabilities,
    shape_out_of_fold,
)
from curation.labels.projection import sample_rows, standardized_pca
from curation.labels.reuse import config_key, reusable_run
from pipeline import schema as t
from pipeline.catalog import finish_run, start_run
from pipeline.errors import CarscoutError, ConfigError
from pipeline.shards import ShardMap, check_shared, split
from pipeline.workspace import Workspace

# Photos per shard when scoring reads them through a shard map: a few seconds of decoding.
SCORE_SHARD_SIZE = 500
# Score rows are inserted this many at a time.
SCORE_INSERT_ROWS = 5000


# The outlier score's neighbours are sought among at most this many rows of each label (a
# seeded sample beyond): k stays the same share of them, so the score keeps its meaning (mean
# distance to the nearest ``neighbour_share`` of the label) while its cost grows linearly with
# the label. Labels and CNN folds of the demo site and realcars-dev are smaller, so their
# scores are exact.
OUTLIER_REFERENCE_ROWS = 2000
# Standardizing and PCA are fit on at most this many rows (as for the probabilities' folds,
# curation/labels/probabilities.py), then applied in chunks.
OUTLIER_FIT_ROWS = 5_000
OUTLIER_CHUNK_ROWS = 1024


def _reduced(features: np.ndarray, components: int, fit_rows: int, seed: int) -> np.ndarray:
    """Return ``(N, components)`` float64: ``features`` standardized and projected by a PCA,
    both fit on at most ``fit_rows`` rows (a seeded sample) and applied a chunk at a time."""
    fit = sample_rows(features.shape[0], fit_rows, np.random.default_rng(seed))
    fitted = features.shape[0] if fit is None else len(fit)
    components = max(1, min(components, fitted, features.shape[1]))
    reduce = standardized_pca(features, components, fit, 0, OUTLIER_CHUNK_ROWS)
    return reduce(features, dtype=np.float64)


def _mean_neighbour_distance(points: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Return ``(N,)``: each row's mean Euclidean distance to its ``k`` nearest rows among
    ``points[reference]``, itself left out. Distances are computed a chunk of rows at a time
    and only their mean is kept, so memory stays ``chunk × len(reference)``."""
    ref = points[reference]
    ref_norms = np.einsum("ij,ij->i", ref, ref)
    position = np.full(len(points), -1)
    position[reference] = np.arange(len(reference))
    out = np.empty(len(points))
    for start in range(0, len(points), OUTLIER_CHUNK_ROWS):
        chunk = points[start : start + OUTLIER_CHUNK_ROWS]
        squared = np.einsum("ij,ij->i", chunk, chunk)[:, None] + ref_norms[None, :]
        squared -= 2.0 * (chunk @ ref.T)
        distances = np.sqrt(np.maximum(squared, 0.0, out=squared), out=squared)
        own = position[start : start + len(chunk)]
        inside = np.flatnonzero(own >= 0)
        distances[inside, own[inside]] = np.inf
        nearest = np.partition(distances, k - 1, axis=1)[:, :k]
        out[start : start + len(chunk)] = nearest.mean(axis=1)
    return out


def outlier_scores(
    features: np.ndarray,
    labels: list[str],
    neighbours: int = 10,
    components: int = 64,
    neighbour_share: float = 0.15,
    groups: np.ndarray | None = None,
    reference_rows: int = OUTLIER_REFERENCE_ROWS,
    seed: int = 0,
) -> np.ndarray:
    """Return ``(N,)`` outlier scores: mean distance to the k nearest images of the same label
    (after standardizing and PCA), divided by the label's median of that distance.

    Neighbours are sought among the label's images, or a seeded sample of ``reference_rows`` of
    them in a larger label; ``k = max(neighbours, ceil(neighbour_share × reference size))``, at
    most the reference size - 1 (an image is never its own neighbour). Time and memory grow
    linearly with the number of images. With ``groups`` (e.g. the CNN fold of each image)
    neighbours are only sought within the same label *and* group.
    """
    reduced = _reduced(np.asarray(features), components, OUTLIER_FIT_ROWS, seed)
    label_array = np.asarray(labels).astype(str)
    if groups is not None:
        label_array = np.char.add(np.char.add(label_array, "\x00"), np.asarray(groups).astype(str))
    rng = np.random.default_rng(seed)
    scores = np.zeros(len(labels))
    for label in np.unique(label_array):
        rows = np.flatnonzero(label_array == label)
        if len(rows) < 2:
            scores[rows] = 1.0
            continue
        reference = np.arange(len(rows))
        if len(rows) > max(reference_rows, 2):
            reference = np.sort(rng.choice(len(rows), max(reference_rows, 2), replace=False))
        k = min(max(neighbours, math.ceil(neighbour_share * len(reference))), len(reference) - 1)
        mean_distance = _mean_neighbour_distance(reduced[rows], reference, k)
        scores[rows] = mean_distance / max(float(np.median(mean_distance)), 1e-9)
    return scores


def score_features(
    features: np.ndarray, labels: list[str], config: ScoreConfig, feature_source: str = ""
) -> Scores:
    """Return :class:`Scores` for a feature matrix and its labels (no catalog involved)."""
    probabilities, classes = out_of_fold_probabilities(
        features, labels, config.folds, config.seed, config.regularization, config.components
    )
    issue, suggested = label_issue_scores(probabilities, labels, classes)
    outlier = outlier_scores(
        features, labels, config.neighbours, config.components, config.neighbour_share
    )
    return Scores(
        labels, classes, probabilities, issue, outlier, suggested, feature_source, MODEL_NAME
    )


def score_pixels(pixels: np.ndarray, labels: list[str], config: ScoreConfig) -> Scores:
    """Return :class:`Scores` from the out-of-fold CNN on ``(N, S, S, 3)`` uint8 ``pixels``."""
    return scores_from_cnn(cnn_out_of_fold(pixels, labels, config), labels, config)


def scores_from_cnn(oof: OutOfFoldCnn, labels: list[str], config: ScoreConfig) -> Scores:
    """Return :class:`Scores` from already computed out-of-fold CNN results."""
    issue, suggested = label_issue_scores(oof.probabilities, labels, oof.classes)
    outlier = outlier_scores(
        oof.embeddings,
        labels,
        config.neighbours,
        config.components,
        config.neighbour_share,
        groups=oof.fold,
    )
    return Scores(
        labels,
        oof.classes,
        oof.probabilities,
        issue,
        outlier,
        suggested,
        oof.source,
        CNN_MODEL_NAME,
    )


def score_shape(
    features: np.ndarray, mirrored: np.ndarray, labels: list[str], config: ScoreConfig
) -> Scores:
    """Return :class:`Scores` from shape features of the photos and of their mirror images."""
    probabilities, classes = shape_out_of_fold(
        features,
        mirrored,
        labels,
        config.folds,
        config.seed,
        config.shape_components,
        config.shape_kernel_rows,
    )
    issue, suggested = label_issue_scores(probabilities, labels, classes)
    outlier = outlier_scores(
        features, labels, config.neighbours, config.components, config.neighbour_share
    )
    source = f"shape:hog{'-'.join(map(str, SHAPE_GRIDS))}@{SHAPE_SIZE},flip"
    return Scores(
        labels, classes, probabilities, issue, outlier, suggested, source, SHAPE_MODEL_NAME
    )


def combine_scores(cnn: Scores, shape: Scores, shape_weight: float = 0.5) -> Scores:
    """Return :class:`Scores` from the mean of two sources' probabilities (``shape_weight`` on
    ``shape``'s), with ``cnn``'s outlier scores. Both must score the same images and labels."""
    if cnn.classes != shape.classes or cnn.labels != shape.labels:
        raise CarscoutError("combined scores need the same images and labels from both sources")
    probabilities = (1.0 - shape_weight) * cnn.probabilities + shape_weight * shape.probabilities
    issue, suggested = label_issue_scores(probabilities, cnn.labels, cnn.classes)
    return Scores(
        cnn.labels,
        cnn.classes,
        probabilities,
        issue,
        cnn.outlier,
        suggested,
        f"{cnn.feature_source}+{shape.feature_source}",
        f"{cnn.model} + {shape.model}",
    )


def resolve_source(config: ScoreConfig) -> str:
    """Return the source ``config`` will use: ``auto`` becomes ``backbone`` when its weights are
    given, in the Keras cache or downloadable into it (saying so on stderr, see
    :func:`fetch_backbone_weights`), else ``offline``. Raises :class:`ConfigError` on an unknown
    one."""
    if config.source not in SCORE_SOURCES:
        raise ConfigError(
            f"unknown feature source {config.source!r}; use one of {', '.join(SCORE_SOURCES)}"
        )
    if config.source != "auto":
        return config.source
    found = fetch_backbone_weights(config.weights, config.backbone)
    return "backbone" if found is not None else "offline"


def score_paths(
    paths: list[Path],
    labels: list[str],
    config: ScoreConfig,
    progress: Callable[[int], None] | None = None,
    map_shards: ShardMap | None = None,
) -> Scores:
    """Return :class:`Scores` of the image files ``paths`` from the source ``config`` resolves to
    (see :func:`resolve_source`); ``Scores.feature_source`` says which was used.

    The photos are read here, or with ``map_shards`` (:mod:`pipeline.shards`) in shards of
    :data:`SCORE_SHARD_SIZE` wherever it runs them; the models are always fit here.
    """
    source = resolve_source(config)
    weights = config.weights
    # auto without weights weighs the CNN against shape features (both are read), up to a size.
    choose = source == "offline" and config.source == "auto"
    cnn_only = choose and len(paths) > AUTO_SHAPE_MAX_ROWS
    choose = choose and not cnn_only
    if source == "backbone" and map_shards is not None:
        # Resolved here so that every worker loads the same file (its path must be shared).
        weights = find_backbone_weights(config.weights, config.backbone) or config.weights
    read = partial(
        image_inputs,
        source="combined" if choose else source,
        cnn_size=config.cnn_size,
        weights=weights,
        backbone=config.backbone,
    )
    if map_shards is None:
        inputs = read(paths, progress=progress)
    else:
        shards = split(paths, SCORE_SHARD_SIZE)
        parts, done = [], 0
        # The CNN's pixels go into one buffer as shards arrive (on a temporary file when
        # large), not kept per shard and joined: that held them twice, all in memory.
        pixels = pixel_buffer(len(paths), config.cnn_size) if source in CNN_SOURCES else None
        try:
            for shard, part in zip(shards, map_shards(read, shards), strict=True):
                if pixels is not None and part.pixels is not None:
                    pixels[done : done + len(shard)] = part.pixels
                    part = replace(part, pixels=None)
                parts.append(part)
                done += len(shard)
                if progress is not None:
                    progress(done)
        except FileNotFoundError:
            for path in shards[len(parts)]:  # the shard that failed: are its files here?
                check_shared(str(path))
            raise
        inputs = join_inputs(parts) if parts else read([])
        if pixels is not None:
            inputs = replace(inputs, pixels=pixels)
    if cnn_only:
        cnn_scores = score_pixels(inputs.pixels, labels, config)
        return replace(cnn_scores, choice=cnn_only_line(len(paths)))
    if choose:
        cnn = score_pixels(inputs.pixels, labels, config)
        shape = score_shape(inputs.shape, inputs.mirrored, labels, config)
        scores, choice = choose_offline(cnn, shape, config.folds, config.seed)
        return replace(scores, choice=choice.line)
    if source == "offline":
        return score_pixels(inputs.pixels, labels, config)
    if source == "shape":
        return score_shape(inputs.shape, inputs.mirrored, labels, config)
    if source == "combined":
        cnn = score_pixels(inputs.pixels, labels, config)
        return combine_scores(cnn, score_shape(inputs.shape, inputs.mirrored, labels, config))
    assert inputs.matrix is not None
    return score_features(inputs.matrix.matrix, labels, config, inputs.matrix.source)


def _score_row(run_id: int, row: sa.Row, scores: Scores, i: int) -> dict[str, object]:
    """Return the ``label_scores`` row of image ``row``, the ``i``-th of ``scores``."""
    return {
        "image_id": row.id,
        "run_id": run_id,
        "feature_source": scores.feature_source,
        "model": scores.model,
        "label": row.label,
        "suggested_label": scores.suggested[i],
        "issue_score": float(scores.issue[i]),
        "outlier_score": float(scores.outlier[i]),
        "probabilities": {
            c: round(float(p), 6)
            for c, p in zip(scores.classes, scores.probabilities[i], strict=True)
        },
    }


def score_catalog(
    ws: Workspace,
    config: ScoreConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    map_shards: ShardMap | None = None,
    reuse: bool = True,
) -> ScoreRun:
    """Score every active image of ``ws`` and store one ``label_scores`` row per image.

    With ``reuse``, when the newest run scored the same photos with the same labels and
    ``config``, nothing is computed and that run comes back as a
    :class:`curation.labels.reuse.ReusedScoreRun`.

    Returns the :class:`ScoreRun`. Raises :class:`CarscoutError` when an image file is missing
    from the store (run ``carscout status``) or labels are too few to score. ``map_shards``:
    see :func:`score_paths` (the store's path must be readable where it runs the shards).
    """
    config = config or ScoreConfig()
    with ws.catalog.reading() as conn:
        rows = conn.execute(
            sa.select(t.images.c.id, t.images.c.label, t.images.c.store_path)
            .where(t.images.c.status == "active")
            .order_by(t.images.c.id)
        ).all()
        reused = reusable_run(conn, [(r.id, r.label) for r in rows], config) if reuse else None
    if reused is not None:
        return reused
    paths = [ws.store.path(r.store_path) for r in rows]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CarscoutError(
            f"{len(missing)} image files are missing from the store (first: {missing[0]}); "
            "restore the store folder before scoring"
        )
    labels = [r.label for r in rows]
    scores = score_paths(
        paths,
        labels,
        config,
        progress=(lambda done: progress(done, len(paths))) if progress else None,
        map_shards=map_shards,
    )
    params = {
        "source": config.source,
        "feature_source": scores.feature_source,
        "model": scores.model,
        "folds": config.cnn_folds if scores.model.startswith(CNN_MODEL_NAME) else config.folds,
        "seed": config.seed,
        "neighbours": config.neighbours,
        "neighbour_share": config.neighbour_share,
        "config": config_key(config),
        "choice": scores.choice,
    }
    with ws.catalog.atomic() as conn:
        run_id = start_run(conn, "score", params)
        # In slices, in one transaction: the rows of a million photos as dicts at once would
        # take gigabytes; a slice's are dropped before the next is made.
        for start in range(0, len(rows), SCORE_INSERT_ROWS):
            conn.execute(
                sa.insert(t.label_scores),
                [
                    _score_row(run_id, row, scores, start + i)
                    for i, row in enumerate(rows[start : start + SCORE_INSERT_ROWS])
                ],
            )
        counts = {c: labels.count(c) for c in scores.classes}
        summary = {"images": counts, "feature_source": scores.feature_source}
        finish_run(conn, run_id, {**summary, "choice": scores.choice})
    return ScoreRun(run_id, scores.feature_source, scores.model, counts, scores.choice)
