"""What label scoring reads from the photos, for each scoring source, and how shards of it join.

:func:`image_inputs` reads one set of photos (here, or a shard of them on a worker) into the
:class:`ImageInputs` a source needs: the CNN's pixels (:mod:`curation.labels.oof_cnn`), the
shape features or a feature matrix (:mod:`curation.labels.features`); :func:`join_inputs`
stacks the shards' in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.labels.features import (
    CNN_SOURCES,
    DEFAULT_BACKBONE,
    OFFLINE_SIZE,
    FeatureMatrix,
    compute_features,
    shape_features_of,
)
from curation.labels.oof_cnn import load_pixels
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class ImageInputs:
    """What label scoring reads from N photos for one scoring ``source`` (``offline``,
    ``shape``, ``combined``, ``backbone`` or ``handmade``), one row per photo:

    ``pixels`` ``(N, S, S, 3)`` uint8 for the out-of-fold CNN (offline, combined); ``shape`` and
    ``mirrored`` ``(N, D)`` float32 from :func:`curation.labels.features.shape_features` (shape,
    combined); ``matrix`` the :class:`FeatureMatrix` of :func:`compute_features` (backbone,
    handmade). Unused ones
    are None.
    """

    source: str
    pixels: np.ndarray | None = None
    shape: np.ndarray | None = None
    mirrored: np.ndarray | None = None
    matrix: FeatureMatrix | None = None


def image_inputs(
    paths: Sequence[Path],
    source: str,
    cnn_size: int = OFFLINE_SIZE,
    weights: Path | None = None,
    backbone: str = DEFAULT_BACKBONE,
    progress: Callable[[int], None] | None = None,
) -> ImageInputs:
    """Return the :class:`ImageInputs` of ``paths`` for the resolved scoring ``source``.

    Reads only the files (a worker can compute a shard of them); ``progress`` gets the number
    of photos done so far, by the first kind of input made of them. Raises
    :class:`ConfigError` for an unknown source, or a backbone whose weights are missing.
    """
    if source not in ("offline", "shape", "combined", "backbone", "handmade"):
        raise ConfigError(f"unknown scoring source {source!r} for image inputs")
    pixels = shape = mirrored = matrix = None
    if source in CNN_SOURCES:
        pixels = load_pixels(paths, cnn_size, progress)  # on a temporary file when large
    if source in ("shape", "combined"):
        shape, mirrored = shape_features_of(paths, progress if source == "shape" else None)
    if source in ("backbone", "handmade"):
        matrix = compute_features(paths, source, weights, backbone, progress)
    return ImageInputs(source, pixels, shape, mirrored, matrix)


def join_inputs(parts: Sequence[ImageInputs]) -> ImageInputs:
    """Return the :class:`ImageInputs` of several shards stacked in order (one source)."""
    if not parts:
        raise ValueError("no image inputs to join")
    sources = {part.source for part in parts}
    if len(sources) != 1:
        raise ValueError(f"image inputs of different sources: {sorted(sources)}")

    def stack(arrays: list[np.ndarray | None]) -> np.ndarray | None:
        present = [a for a in arrays if a is not None and len(a)]
        return np.concatenate(present) if present else arrays[0]

    matrices = [part.matrix for part in parts if part.matrix is not None]
    matrix = None
    if matrices:
        matrix = FeatureMatrix(np.concatenate([m.matrix for m in matrices]), matrices[0].source)
    return ImageInputs(
        parts[0].source,
        stack([p.pixels for p in parts]),
        stack([p.shape for p in parts]),
        stack([p.mirrored for p in parts]),
        matrix,
    )
