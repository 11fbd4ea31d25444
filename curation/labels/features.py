"""Image features for label-issue scoring: an ImageNet backbone when its weights are on disk or
downloadable, or hand-made features that need no download.

Two sources:

* ``backbone`` — a ``keras.applications`` network (``include_top=False, pooling="avg"``) whose
  weights come from ``--weights PATH`` or the Keras cache (``~/.keras/models/<file>``), where
  :func:`fetch_backbone_weights` (``auto``) downloads them when the network allows
  (:mod:`pipeline.weights`); ``backbone`` itself never downloads.
* ``handmade`` — hand-made features computed with NumPy: a joint colour histogram, a grid of
  gradient-orientation histograms (HOG-like, for shape) and a tiny grey thumbnail. On this
  project's 2-core machines they cost about 4 ms per image, against about 5 s per epoch per
  512 images for even a small CNN trained K times out of fold, but separate the demo
  marketplace's models only about 91 % of the time (see ``benchmarks/label_issues.py``): the
  default offline scoring source is therefore the out-of-fold CNN of :mod:`curation.labels.oof_cnn`.
* ``shape`` (:func:`shape_features`, used by the ``shape`` scoring source) — the same kind of
  features at 128 px with a finer 16×16 grid, for the photo and its mirror image: on real
  photos these separate body shapes better than a small CNN trained from scratch.

:func:`compute_features` picks ``backbone`` when available (or downloadable), else ``handmade``,
and says which.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.errors import ConfigError
from pipeline.weights import (
    WeightsUnavailable,
    cached_imagenet_weights,
    efficientnet_input_rescale,
    fetch_imagenet_weights,
    imagenet_file,
    keras_cache_dir,
    weights_url,
)

OFFLINE_SIZE = 64
# Scoring sources that train the out-of-fold CNN on the photos' pixels.
CNN_SOURCES = ("offline", "combined")
# Length of :func:`offline_vector`: 64 colour bins + 4×4×9 + 8×8×9 gradient bins + 8×8 thumbnail.
HANDMADE_DIMENSIONS = 848
# Shape features: gradient-orientation grids down to 8x8-pixel cells need 128 px to show a
# roof line or a pickup bed; 64 px blurred them (benchmarks/label_issues.py, realcars-dev).
SHAPE_SIZE = 128
SHAPE_GRIDS = (4, 8, 16)
# Bump when a feature source changes, so cached features (benchmarks) are recomputed.
FEATURE_VERSION = 3
# Backbones we know the Keras cache file name of: name -> (no-top weights file, input size).
BACKBONES: dict[str, tuple[str, int]] = {
    "MobileNetV3Small": (imagenet_file("MobileNetV3Small").name, 224),
    "EfficientNetB0": (imagenet_file("EfficientNetB0").name, 224),
}
DEFAULT_BACKBONE = "MobileNetV3Small"
# Sources of a feature matrix; scoring also knows "offline" (the out-of-fold CNN, which makes
# its own probabilities instead of a matrix): see curation.labels.issues.SCORE_SOURCES.
SOURCES = ("auto", "backbone", "handmade")


@dataclass(frozen=True)
class FeatureMatrix:
    """Features of N images: ``matrix`` has shape ``(N, D)`` (float32), one row per input path.

    ``source`` names what made them, e.g. ``"handmade:colour-hog-thumb@64"`` or
    ``"backbone:MobileNetV3Small(weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5)"``.
    """

    matrix: np.ndarray
    source: str


def find_backbone_weights(
    weights: Path | None = None, backbone: str = DEFAULT_BACKBONE
) -> Path | None:
    """Return the weights file to use for ``backbone``, or None when there is none on disk.

    An explicit ``weights`` path must exist (else :class:`ConfigError`); otherwise the Keras
    cache is checked for the file Keras itself would have downloaded.
    """
    if backbone not in BACKBONES:
        raise ConfigError(f"unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}")
    if weights is not None:
        if not Path(weights).is_file():
            raise ConfigError(
                f"weights file {weights} does not exist; pass the path of a no-top "
                f"{backbone} .h5/.weights.h5 file, or use --features offline"
            )
        return Path(weights)
    cached = cached_imagenet_weights(backbone)
    return cached if cached.is_file() else None


def fetch_backbone_weights(
    weights: Path | None = None,
    backbone: str = DEFAULT_BACKBONE,
    fallback: str = "the offline sources",
) -> Path | None:
    """Return :func:`find_backbone_weights`, else the ImageNet weights just downloaded into the
    Keras cache (saying so on stderr), else None after one stderr line that names the reason
    and ``fallback``, the source used instead; None without a line when downloads are ``off``
    (``$CARSCOUT_WEIGHTS_BASE_URL``). Never raises for a failed download."""
    found = find_backbone_weights(weights, backbone)
    # Downloads off: the user asked for the offline path, so no fallback line each run.
    if found is not None or weights_url(backbone) is None:
        return found
    try:
        return fetch_imagenet_weights(backbone)
    except WeightsUnavailable as exc:
        print(
            f"{exc}; scoring with {fallback} — pass --weights FILE to use a saved file",
            file=sys.stderr,
            flush=True,
        )
        return None


def load_rgb(path: Path, size: int) -> np.ndarray:
    """Return the image at ``path`` as a ``(size, size, 3)`` uint8 array (squashed, not cropped)."""
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (size * 2, size * 2))
        return np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


def _colour_histogram(rgb: np.ndarray, bins: int = 4) -> np.ndarray:
    q = (rgb.astype(np.int32) * bins) // 256
    index = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    hist = np.bincount(index.ravel(), minlength=bins**3).astype(np.float32)
    return hist / hist.sum()


def _gradient_histograms(grey: np.ndarray, cells: int = 4, orientations: int = 9) -> np.ndarray:
    gy, gx = np.gradient(grey)
    magnitude = np.hypot(gx, gy)
    # Unsigned orientation: a dark car on a light road and the reverse give the same shape.
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bin_index = np.minimum((angle / np.pi * orientations).astype(np.int32), orientations - 1)
    size = grey.shape[0] // cells
    out = np.zeros((cells, cells, orientations), np.float32)
    for row in range(cells):
        for col in range(cells):
            window = np.s_[row * size : (row + 1) * size, col * size : (col + 1) * size]
            out[row, col] = np.bincount(
                bin_index[window].ravel(), weights=magnitude[window].ravel(), minlength=orientations
            )
    flat = out.ravel()
    return flat / (np.linalg.norm(flat) + 1e-6)


def offline_vector(rgb: np.ndarray) -> np.ndarray:
    """Return the offline feature vector of one ``(S, S, 3)`` uint8 image (S divisible by 8).

    Layout: 64 colour-histogram bins, 2 grids (4×4 and 8×8 cells) of 9 gradient-orientation
    bins, then a 8×8 grey thumbnail scaled to [0, 1] — 64 + 144 + 576 + 64 = 848 values.
    """
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    size = grey.shape[0]
    thumb = grey.reshape(8, size // 8, 8, size // 8).mean(axis=(1, 3)).ravel() / 255.0
    return np.concatenate(
        [
            _colour_histogram(rgb),
            _gradient_histograms(grey, cells=4),
            _gradient_histograms(grey, cells=8),
            thumb,
        ]
    ).astype(np.float32)


def shape_vector(rgb: np.ndarray, grids: Sequence[int] = SHAPE_GRIDS) -> np.ndarray:
    """Return the shape feature vector of one ``(S, S, 3)`` uint8 image (S divisible by 16).

    Layout: 64 colour-histogram bins, one grid of 9 gradient-orientation bins per entry of
    ``grids`` (cells per side), then an 8×8 grey thumbnail — 64 + 9·(16 + 64 + 256) + 64 = 3,152
    values with the default grids.
    """
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    size = grey.shape[0]
    thumb = grey.reshape(8, size // 8, 8, size // 8).mean(axis=(1, 3)).ravel() / 255.0
    parts = [_colour_histogram(rgb)]
    parts += [_gradient_histograms(grey, cells=cells) for cells in grids]
    return np.concatenate([*parts, thumb]).astype(np.float32)


def shape_features(
    pixels: np.ndarray, progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(features, mirrored)``: :func:`shape_vector` of each ``(N, S, S, 3)`` image and
    of its mirror image, each ``(N, D)`` float32."""
    if not len(pixels):
        return np.zeros((0, 1), np.float32), np.zeros((0, 1), np.float32)
    first = shape_vector(pixels[0])
    rows = np.zeros((len(pixels), len(first)), np.float32)
    mirrored = np.zeros_like(rows)
    for i, rgb in enumerate(pixels):
        rows[i] = first if i == 0 else shape_vector(rgb)
        mirrored[i] = shape_vector(rgb[:, ::-1])
        if progress is not None:
            progress(i + 1)
    return rows, mirrored


def shape_features_of(
    paths: Sequence[Path], progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`shape_features` of the photos at ``paths`` read at :data:`SHAPE_SIZE`, one
    photo at a time: no array of every photo's pixels is held (49 KB a photo)."""
    if not len(paths):
        return shape_features(np.zeros((0, SHAPE_SIZE, SHAPE_SIZE, 3), np.uint8))
    rows = mirrored = np.zeros((0, 0), np.float32)
    for i, path in enumerate(paths):
        one, flipped = shape_features(load_rgb(path, SHAPE_SIZE)[None])
        if i == 0:
            rows = np.zeros((len(paths), one.shape[1]), np.float32)
            mirrored = np.zeros_like(rows)
        rows[i], mirrored[i] = one[0], flipped[0]
        if progress is not None:
            progress(i + 1)
    return rows, mirrored


def offline_features(
    paths: Sequence[Path], size: int = OFFLINE_SIZE, progress: Callable[[int], None] | None = None
) -> FeatureMatrix:
    """Return hand-made features of ``paths`` (shape ``(len(paths), 848)``, float32)."""
    # Written into one array as they come: a list of rows stacked at the end held every
    # photo's features twice (3.4 KB a photo each).
    matrix = np.zeros((len(paths), HANDMADE_DIMENSIONS), np.float32)
    for i, path in enumerate(paths):
        matrix[i] = offline_vector(load_rgb(path, size))
        if progress is not None:
            progress(i + 1)
    return FeatureMatrix(matrix, f"handmade:colour-hog-thumb@{size}")


def backbone_features(
    paths: Sequence[Path],
    weights: Path | str | None,
    backbone: str = DEFAULT_BACKBONE,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> FeatureMatrix:
    """Return pooled embeddings of ``paths`` from a Keras ImageNet backbone.

    ``weights`` is a file path, or None for random weights (tests only: the features are then
    meaningless but the code path is the real one). Shape ``(len(paths), channels)``.
    """
    import keras

    builder = getattr(keras.applications, backbone)
    _, input_size = BACKBONES[backbone]
    model = builder(
        include_top=False,
        pooling="avg",
        weights=str(weights) if weights is not None else None,
        input_shape=(input_size, input_size, 3),
    )
    scale, offset = np.float32(1.0), np.float32(0.0)
    if backbone == "EfficientNetB0" and weights is not None:
        norm = next(x for x in model.layers if isinstance(x, keras.layers.Normalization))
        mean = keras.ops.convert_to_numpy(norm.weights[0]).reshape(-1)
        scale, offset = (np.asarray(v, np.float32) for v in efficientnet_input_rescale(mean))
    chunks = []
    for start in range(0, len(paths), batch_size):
        batch = np.stack([load_rgb(p, input_size) for p in paths[start : start + batch_size]])
        # Both MobileNetV3 and EfficientNet rescale inside the model: feed raw 0..255 pixels
        # (EfficientNet's, loaded from a file, with the step its "imagenet" build adds).
        pixels = batch.astype(np.float32) * scale + offset
        chunks.append(np.asarray(model.predict_on_batch(pixels)))
        if progress is not None:
            progress(min(start + batch_size, len(paths)))
    matrix = np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float32)
    name = Path(weights).name if weights is not None else "random-init"
    return FeatureMatrix(matrix.astype(np.float32), f"backbone:{backbone}({name})")


def compute_features(
    paths: Sequence[Path],
    source: str = "auto",
    weights: Path | None = None,
    backbone: str = DEFAULT_BACKBONE,
    progress: Callable[[int], None] | None = None,
) -> FeatureMatrix:
    """Return features of ``paths`` from ``source`` (``auto``, ``backbone`` or ``handmade``).

    ``auto`` uses the backbone when ``weights`` is given, its file is in the Keras cache or can
    be downloaded there (:func:`fetch_backbone_weights`), else the hand-made features; the
    returned ``source`` says which was used.
    """
    if source not in SOURCES:
        raise ConfigError(f"unknown feature source {source!r}; use one of {', '.join(SOURCES)}")
    if source == "handmade":
        return offline_features(paths, progress=progress)
    if source == "auto":
        found = fetch_backbone_weights(weights, backbone, fallback="the hand-made features")
    else:
        found = find_backbone_weights(weights, backbone)
    if found is None:
        if source == "backbone":
            raise ConfigError(
                f"no {backbone} weights: none given and "
                f"{keras_cache_dir() / BACKBONES[backbone][0]} is missing; "
                "pass --weights PATH or use --features offline"
            )
        return offline_features(paths, progress=progress)
    return backbone_features(paths, found, backbone, progress=progress)
