"""Colour quantization: each photo reduced to ``k`` colours, as in the Stanford Cars hobby project.

A MiniBatchKMeans model is fitted to the pixels of each photo (after cropping and resizing to the
training size), and every pixel is replaced by its cluster centre. The result is written once to
a cache folder as PNG, keyed by the source file's path, size and modification time, the box, the
image size and ``k``; later runs and ``predict`` reuse it.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.cluster import MiniBatchKMeans

from training.labelled import BBox, Sample

TF_DECODABLE = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}


def open_rgb(path: Path, bbox: BBox | None = None) -> Image.Image:
    """Return the photo as RGB, cropped to ``bbox`` (clamped to the image) when given."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    if bbox is not None:
        x1, y1, x2, y2 = bbox
        x1, y1 = max(0, min(x1, image.width - 1)), max(0, min(y1, image.height - 1))
        x2, y2 = max(x1 + 1, min(x2, image.width)), max(y1 + 1, min(y2, image.height))
        image = image.crop((x1, y1, x2, y2))
    return image


def quantize_array(pixels: np.ndarray, colors: int, seed: int) -> np.ndarray:
    """Return ``pixels`` (H×W×3 uint8) reduced to at most ``colors`` colours (same shape)."""
    flat = pixels.reshape(-1, 3).astype(np.float32)
    if len(np.unique(flat, axis=0)) <= colors:
        return pixels.copy()
    kmeans = MiniBatchKMeans(n_clusters=colors, random_state=seed, batch_size=2048, n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few distinct colours can leave empty clusters
        labels = kmeans.fit_predict(flat)
    centres = np.clip(np.rint(kmeans.cluster_centers_), 0, 255).astype(np.uint8)
    return centres[labels].reshape(pixels.shape)


def _cache_key(sample: Sample, *parts: object) -> str:
    stat = sample.path.stat()
    text = "|".join(
        map(str, (sample.path.resolve(), stat.st_size, stat.st_mtime_ns, sample.bbox, *parts))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _prepare_one(
    sample: Sample, cache_dir: Path, image_size: int, colors: int | None, seed: int
) -> Sample:
    if colors is None and sample.path.suffix.lower() in TF_DECODABLE:
        return sample
    key = _cache_key(sample, image_size, colors, seed)
    target = cache_dir / key[:2] / f"{key}.png"
    if not target.is_file():
        image = open_rgb(sample.path, sample.bbox)
        if colors is not None:
            image = image.resize((image_size, image_size), Image.Resampling.BILINEAR)
            image = Image.fromarray(quantize_array(np.asarray(image), colors, seed))
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
        image.save(temp, format="PNG")
        os.replace(temp, target)  # a killed run leaves no half-written cache entry
    return Sample(target, sample.label, None)


def prepare_files(
    samples: Sequence[Sample],
    cache_dir: Path,
    *,
    image_size: int,
    quantize_colors: int | None,
    seed: int = 0,
    workers: int | None = None,
) -> list[Sample]:
    """Return samples whose files TensorFlow can decode directly, in the same order.

    With ``quantize_colors`` every photo is cropped, resized and quantized into the cache (box
    applied, so the returned samples carry none); otherwise only formats TensorFlow cannot decode
    (WebP) are converted to PNG there, and the rest are returned unchanged.
    """
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(
            pool.map(
                lambda s: _prepare_one(s, cache_dir, image_size, quantize_colors, seed), samples
            )
        )
