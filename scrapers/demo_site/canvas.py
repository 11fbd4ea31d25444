"""Drawing tools shared by the demo marketplace's painters: a forgiving canvas, colour jitter
and shading, Chaikin corner cutting and vertical gradients.

Every painter draws only with the ``random.Random`` it is given, so one seed gives one picture.
"""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

RGB = tuple[int, int, int]
Point = tuple[float, float]
Box = tuple[float, float, float, float]
Ink = int | tuple[int, ...] | str | None


def ordered_box(box: Box) -> Box:
    """Return ``box`` (x0, y0, x1, y1) with each pair swapped where it runs backwards.

    A box that was already in order comes back as the very same numbers, so it draws the
    very same pixels; a reversed one (say, a road strip that starts below the frame) becomes
    a valid box instead of a ``ValueError``.
    """
    x0, y0, x1, y1 = box
    if x1 < x0:
        x0, x1 = x1, x0
    if y1 < y0:
        y0, y1 = y1, y0
    return x0, y0, x1, y1


class Canvas(ImageDraw.ImageDraw):
    """An ``ImageDraw`` whose rectangles and ellipses accept corners in either order.

    Pillow refuses a box whose second corner lies above or left of the first; random sizes
    and positions make such boxes rare but certain, so every painter draws through this.
    """

    def rectangle(  # type: ignore[override]
        self, xy: Box, fill: Ink = None, outline: Ink = None, width: int = 1
    ) -> None:
        """Draw the rectangle ``xy`` (corners in any order)."""
        super().rectangle(ordered_box(xy), fill, outline, width)

    def ellipse(  # type: ignore[override]
        self, xy: Box, fill: Ink = None, outline: Ink = None, width: int = 1
    ) -> None:
        """Draw the ellipse inside the box ``xy`` (corners in any order)."""
        super().ellipse(ordered_box(xy), fill, outline, width)


def jitter(rng: random.Random, colour: RGB, amount: int) -> RGB:
    """Return ``colour`` with each channel moved by up to ``amount``, clipped to 0..255."""
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)  # type: ignore[return-value]


def shade(colour: RGB, factor: float) -> RGB:
    """Return ``colour`` scaled by ``factor`` (darker below 1, lighter above)."""
    return tuple(max(0, min(255, int(c * factor))) for c in colour)  # type: ignore[return-value]


def chaikin(points: tuple[Point, ...] | list[Point], iterations: int, cut: float) -> list[Point]:
    """Return a closed polygon with its corners cut ``iterations`` times (rounder)."""
    pts = list(points)
    for _ in range(iterations):
        out: list[Point] = []
        for i, (x0, y0) in enumerate(pts):
            x1, y1 = pts[(i + 1) % len(pts)]
            out.append((x0 + (x1 - x0) * cut, y0 + (y1 - y0) * cut))
            out.append((x0 + (x1 - x0) * (1 - cut), y0 + (y1 - y0) * (1 - cut)))
        pts = out
    return pts


def vertical_gradient(size: tuple[int, int], stops: list[tuple[float, RGB]]) -> Image.Image:
    """Return an RGB image of ``size`` fading through ``stops`` (position 0..1, colour)."""
    w, h = size
    t = np.linspace(0.0, 1.0, h)
    pos = [p for p, _ in stops]
    column = np.stack([np.interp(t, pos, [c[k] for _, c in stops]) for k in range(3)], axis=-1)
    strip = Image.fromarray(column.astype(np.uint8).reshape(h, 1, 3), "RGB")
    return strip.resize((w, h), Image.Resampling.NEAREST)
