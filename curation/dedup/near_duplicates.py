"""The near-duplicate decision shared by dedup, query mode and split units.

Two photos are near-duplicates when

1. their 64-bit pHashes are within ``phash_threshold`` bits (the exact search of
   :mod:`curation.dedup.search` finds these candidates; the threshold is set high enough that every
   repost family in the demo benchmark is joined through its candidates), **and**
2. their colour layouts agree: the ``colour`` signature is a 6x5 grid of the mean chroma
   (Cb, Cr) of each cell, divided by the photo's mean brightness and quantised to 4 bits
   through ``tanh`` (fine steps near grey, no hard clipping for vivid colours). Its distance
   is the L1 distance of the 60 levels (0..900).

pHash alone cannot tell a blue car from a navy one on a similar street: the demo site's
unrelated photos sit 4-8 bits apart, as close as resized or cropped reposts. The colour grid
separates them, and is robust to what reposts do: brightening (chroma divided by brightness),
recompression and resizing (cell means), and crops of a few percent (coarse cells).
``benchmarks/dedup.py`` prints the precision/recall grid the defaults were chosen from.

Signatures are 60-character hex strings (``image_hashes.kind == "colour"``), e.g.
``"7788a9…"``: one hex digit per level, cells row by row, Cb grid then Cr grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from curation.dedup.search import cross_pairs, pairs_within

COLOUR_KIND = "colour"
COLOUR_GRID = (6, 5)  # columns, rows: about the 4:3 shape of a photo
COLOUR_LEVELS = COLOUR_GRID[0] * COLOUR_GRID[1] * 2
COLOUR_MAX_DISTANCE = COLOUR_LEVELS * 15
_COLOUR_SCALE = 0.2  # chroma / mean brightness where tanh bends; chosen on the demo benchmark

# Chosen with benchmarks/dedup.py on the demo marketplace's reposts (see its grid): with
# pHash <= 8 and colour <= 40 every repost family is grouped (a few cropped reposts are 9-10
# bits from one copy but within 8 of another) and no unrelated photo joins; reposts sit below
# about 36 colour levels, the closest unrelated candidate about 45. pHash <= 10 gives the same
# precision/recall but makes the exact search of 1M hashes over 3x slower.
DEFAULT_PHASH_THRESHOLD = 8
DEFAULT_COLOUR_THRESHOLD = 40


def colour_signature(image: Image.Image) -> str:
    """Return the 60-hex-digit colour layout of an image (any mode), e.g. ``"77889a…"``."""
    ycc = image if image.mode == "YCbCr" else image.convert("RGB").convert("YCbCr")
    # Bilinear downscaling weighs overlapping windows: a crop of a few percent that moves a
    # cell border moves the cell means less than with hard-edged boxes.
    cells = np.asarray(ycc.resize(COLOUR_GRID, Image.Resampling.BILINEAR), dtype=np.float32)
    brightness = float(np.asarray(ycc.getchannel(0), dtype=np.float32).mean()) + 1.0
    chroma = (cells[..., 1:] - 128.0) / brightness  # (rows, columns, 2)
    levels = np.clip(np.rint(7.5 + 8.0 * np.tanh(chroma / _COLOUR_SCALE)), 0, 15)
    return "".join(f"{int(v):x}" for v in np.moveaxis(levels, -1, 0).ravel())


def colour_levels(values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(levels, present)``: a ``(n, 60)`` uint8 array and which rows had a signature.

    A missing or malformed signature gives a row of zeros and ``present[i] == False``.
    """
    levels = np.zeros((len(values), COLOUR_LEVELS), dtype=np.uint8)
    present = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values):
        if value and len(value) == COLOUR_LEVELS:
            try:
                levels[i] = np.frombuffer(bytes.fromhex("".join(f"0{c}" for c in value)), np.uint8)
            except ValueError:
                continue
            present[i] = True
    return levels, present


def colour_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the L1 distance between rows of two ``(k, 60)`` level arrays, shape ``(k,)``."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).sum(axis=-1)


@dataclass(frozen=True)
class NearDuplicateRule:
    """pHash candidates within ``phash_threshold`` confirmed by a colour distance.

    ``colour_threshold=None`` switches the colour check off (pHash alone). ``unverified`` says
    what happens to a candidate pair where a colour signature is missing: ``"drop"`` it (dedup:
    never mark a photo on weak evidence) or ``"keep"`` it (split units: leak-safe).
    """

    phash_threshold: int = DEFAULT_PHASH_THRESHOLD
    colour_threshold: int | None = DEFAULT_COLOUR_THRESHOLD
    unverified: str = "drop"

    def __post_init__(self) -> None:
        if self.unverified not in ("drop", "keep"):
            raise ValueError(f"unverified={self.unverified!r}: use 'drop' or 'keep'")
        if self.colour_threshold is not None and not (
            0 <= self.colour_threshold <= COLOUR_MAX_DISTANCE
        ):
            raise ValueError(
                f"colour threshold {self.colour_threshold} is outside 0..{COLOUR_MAX_DISTANCE}"
            )

    def confirm(
        self,
        pairs: np.ndarray,
        levels_a: np.ndarray,
        present_a: np.ndarray,
        levels_b: np.ndarray,
        present_b: np.ndarray,
    ) -> np.ndarray:
        """Keep the candidate rows ``(i, j, phash distance)`` whose colours agree.

        ``i`` indexes ``levels_a``, ``j`` indexes ``levels_b``; returns the kept rows.
        """
        if self.colour_threshold is None or not len(pairs):
            return pairs
        i, j = pairs[:, 0], pairs[:, 1]
        known = present_a[i] & present_b[j]
        close = colour_distance(levels_a[i], levels_b[j]) <= self.colour_threshold
        keep = np.where(known, close, self.unverified == "keep")
        return pairs[keep]

    def pairs_within(
        self,
        phashes: np.ndarray,
        colours: tuple[np.ndarray, np.ndarray],
        method: str = "auto",
        workers: int | None = None,
    ) -> np.ndarray:
        """Return the near-duplicate pairs of one set: rows ``(i, j, phash distance)``, i < j."""
        candidates = pairs_within(phashes, self.phash_threshold, method, workers)  # type: ignore[arg-type]
        return self.confirm(candidates, *colours, *colours)

    def cross_pairs(
        self,
        queries: np.ndarray,
        query_colours: tuple[np.ndarray, np.ndarray],
        base: np.ndarray,
        base_colours: tuple[np.ndarray, np.ndarray],
        method: str = "auto",
        workers: int | None = None,
    ) -> np.ndarray:
        """Return near-duplicate (query, base) pairs: rows ``(query i, base j, distance)``."""
        candidates = cross_pairs(queries, base, self.phash_threshold, method, workers)  # type: ignore[arg-type]
        return self.confirm(candidates, *query_colours, *base_colours)
