"""Helpers for tests that need real image bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def small_jpeg(seed: int, size: tuple[int, int] = (64, 48), quality: int = 90) -> bytes:
    """Return the bytes of a random-noise RGB JPEG, distinct for each ``seed``."""
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(array, "RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()
