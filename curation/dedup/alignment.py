"""Is a matched pair the same photograph? Align one photo onto the other and compare pixels.

ORB keypoints and a RANSAC homography (:mod:`curation.dedup.verify`) say that two photos share
a plane of matching points. A different car in the same studio pose, or two drawn cars of one
model on the same street, share such a plane too (wheels, floor, outline). What they do not
share is the rest of the picture. Once the second photo is warped onto the first by the
homography, both are brought to a small common grid (:data:`GRID_SIDE`: a 30% thumbnail and
JPEG blocks are no differences there) and cut into cells of :data:`CELL` pixels. Three shares
of cells come out of :func:`compare`:

* ``structure``: textured cells whose normalized cross-correlation exceeds 0.7 (the same edges
  in the same places, whatever the brightness and contrast);
* ``hue``: cells whose mean chromaticity agrees (a recoloured drawing, another sky);
  greyscale copies skip this test;
* ``tone``: cells whose median residual after one brightness/contrast fit, shared by the
  three channels and fitted on quantiles so that a pasted watermark cannot skew it, stays
  below 20 grey levels.

A watermark or a re-cut corner spoils only the cells it covers, so each test asks for a share,
not for all cells. :class:`AlignedRule` holds the thresholds, chosen on demo seed 5 and on
realcars-dev's candidate pairs (``benchmarks/dedup_real.py`` reports them on other seeds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.dedup.verify import opencv, orb_features, photo_for_features

GRID_SIDE = 64  # long side of the grid the aligned photos are compared on
CELL = 8  # grid pixels per cell side
_RATIO = 0.8  # Lowe's ratio test
_RANSAC_PX = 4.0
# OpenCV's USAC with its fast settings finds the same inliers as classic RANSAC on demo
# candidates (34.6 vs 34.3 a pair on average) in 0.09 ms instead of 2-3 ms: unrelated photos'
# matches ran classic RANSAC to its iteration limit.
_RANSAC_ITERATIONS = 500
_MIN_MATCHES = 8
_TEXTURED_STD = 4.0  # a cell flatter than this in both photos carries no structure
_CELL_NCC = 0.7
_HUE_TOLERANCE = 0.04
_TONE_TOLERANCE = 20.0
_GREY_CHROMA = 3.0  # mean |channel - grey| below this: the photo is greyscale
_OVERLAY_SHARE = 0.35  # at most this share of the photo inside the pasted box's rectangle
_OVERLAY_REST = 0.9  # cells outside it that must agree
_FLAT_LEVELS = 12.0  # grey levels around the box's median that count as its fill
_BOX_DENSITY = 0.75  # share of the box's rectangle its fill covers
_BOX_MIN_SIDE = 3  # grid pixels: a box holds a line of text
_FLAT_SHARE = 0.4  # share of the box's pixels at its fill's brightness (the rest: its text)


@dataclass(frozen=True)
class Pixels:
    """One photo at :data:`FEATURE_SIDE`: RGB ``uint8 (h, w, 3)`` and its ORB features."""

    rgb: np.ndarray
    points: np.ndarray
    descriptors: np.ndarray | None


def load_pixels(path: str | Path, mirrored: bool = False) -> Pixels:
    """Return the photo's :class:`Pixels` (mirrored left-right if asked).

    Raises ``OSError``/``ValueError`` for a file Pillow cannot decode.
    """
    array = np.ascontiguousarray(np.asarray(photo_for_features(path, "RGB", mirrored)))
    return _with_features(array)


def mirror_pixels(pixels: Pixels) -> Pixels:
    """Return the :class:`Pixels` of the photo's mirror image: the same as
    ``load_pixels(path, mirrored=True)`` (the photo is scaled, then mirrored), without reading
    and scaling the file again."""
    return _with_features(np.ascontiguousarray(pixels.rgb[:, ::-1]))


def _with_features(array: np.ndarray) -> Pixels:
    cv2 = opencv()
    features = orb_features(cv2.cvtColor(array, cv2.COLOR_RGB2GRAY))
    return Pixels(array, features.points, features.descriptors)


@dataclass(frozen=True)
class Evidence:
    """What :func:`compare` found: homography inliers and the three shares of agreeing cells."""

    inliers: int
    structure: float
    hue: float
    tone: float
    overlay: bool = False  # the only disagreement is a flat box pasted on one photo


NO_EVIDENCE = Evidence(0, 0.0, 0.0, 0.0)


def _homography(a: Pixels, b: Pixels, min_inliers: int = 0) -> tuple[np.ndarray | None, int]:
    """Return ``(homography from a's pixels to b's, inliers)``; ``(None, 0)`` when none."""
    if a.descriptors is None or b.descriptors is None:
        return None, 0
    if len(a.descriptors) < _MIN_MATCHES or len(b.descriptors) < _MIN_MATCHES:
        return None, 0
    cv2 = opencv()
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in matches if len(m) == 2 and m[0].distance < _RATIO * m[1].distance]
    # Fewer matches than the inliers asked for cannot pass: skip RANSAC, the costly part.
    if len(good) < max(_MIN_MATCHES, min_inliers):
        return None, 0
    src = a.points[[g.queryIdx for g in good]]
    dst = b.points[[g.trainIdx for g in good]]
    homography, mask = cv2.findHomography(
        src, dst, cv2.USAC_FAST, _RANSAC_PX, maxIters=_RANSAC_ITERATIONS
    )
    if homography is None:
        return None, 0
    return homography, int(mask.sum())


def _chromaticity(rgb: np.ndarray) -> np.ndarray:
    total = rgb.sum(axis=-1) + 30.0
    return np.stack(
        [
            (rgb[..., 0] - rgb[..., 1]) / total,
            (rgb[..., 0] + rgb[..., 1] - 2 * rgb[..., 2]) / (2 * total),
        ],
        axis=-1,
    )


def compare(
    a: Pixels, b: Pixels, min_inliers: int = 0, min_tone: float = 0.0, overlay_from: int = 0
) -> Evidence:
    """Return the :class:`Evidence` that ``b`` is the same photograph as ``a``.

    Below ``min_inliers`` homography inliers the cells are not compared (their shares are 0).
    A rule's ``min_tone`` and ``overlay_from`` (the inliers from which it looks for a pasted
    box) save work that cannot change its verdict: below ``overlay_from`` inliers no box is
    looked for, and when the tone share is under ``min_tone`` too, structure and hue are left
    at 0.
    """
    homography, inliers = _homography(a, b, min_inliers)
    if homography is None:
        return NO_EVIDENCE
    if inliers < min_inliers:
        return Evidence(inliers, 0.0, 0.0, 0.0)
    cv2 = opencv()
    h, w = a.rgb.shape[:2]
    rgb_a, rgb_b = a.rgb.astype(np.float32), b.rgb.astype(np.float32)
    warped = cv2.warpPerspective(
        rgb_b,
        homography,
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(-1.0, -1.0, -1.0),
    )
    inside = (warped[..., 0] >= 0).astype(np.float32)
    scale = GRID_SIDE / max(w, h)
    size = (max(CELL, round(w * scale)), max(CELL, round(h * scale)))
    grid_a = cv2.resize(rgb_a, size, interpolation=cv2.INTER_AREA)
    grid_b = cv2.resize(np.where(warped >= 0, warped, 0), size, interpolation=cv2.INTER_AREA)
    cover = cv2.resize(inside, size, interpolation=cv2.INTER_AREA)
    valid = cover > 0.99
    if valid.sum() < CELL * CELL:
        return Evidence(inliers, 0.0, 0.0, 0.0)
    grid_b = grid_b / np.maximum(cover, 1e-6)[..., None]
    grey_a, grey_b = grid_a.mean(axis=2), grid_b.mean(axis=2)
    # One brightness/contrast fit for all channels (Pillow's enhancers scale all alike), on
    # quantiles so that a watermark box cannot pull it.
    qa = np.percentile(grey_a[valid], [25, 50, 75])
    qb = np.percentile(grey_b[valid], [25, 50, 75])
    gain = float(np.clip((qb[2] - qb[0]) / max(qa[2] - qa[0], 1e-3), 0.5, 2.0))
    offset = float(qb[1] - gain * qa[1])
    # Then refit on the better-fitting 60% of pixels, twice: a pasted box can still hold a
    # quarter of one photo's quantile range.
    va, vb = grey_a[valid], grey_b[valid]
    for _ in range(2):
        error = np.abs(vb - (gain * va + offset))
        sel = error <= np.percentile(error, 60)
        spread = float(va[sel].var())
        if spread < 1.0:
            break
        gain = float(np.clip(np.cov(va[sel], vb[sel], bias=True)[0, 1] / spread, 0.5, 2.0))
        offset = float(vb[sel].mean() - gain * va[sel].mean())
    greyscale = (
        min(
            float(np.abs(g[valid] - g[valid].mean(axis=-1, keepdims=True)).mean())
            for g in (grid_a, grid_b)
        )
        < _GREY_CHROMA
    )
    if greyscale:
        residual = np.abs(grey_b - np.clip(gain * grey_a + offset, 0.0, 255.0))
    else:
        # Clipped like the copy's own pixels: brightened highlights stop at white.
        predicted = np.clip(gain * grid_a + offset, 0.0, 255.0)
        residual = np.abs(grid_b - predicted).max(axis=2)
        # Hue against the photo as the fit predicts the copy: brightness and contrast move all
        # three channels by one line, which shifts chromaticity more in dark pixels.
        hue_a, hue_b = _chromaticity(predicted), _chromaticity(grid_b)
        # Any saturation left: one gain, on quantiles.
        na = np.linalg.norm(hue_a[valid], axis=-1)
        nb = np.linalg.norm(hue_b[valid], axis=-1)
        coloured = na > 0.02
        # The median ratio over coloured pixels: a pasted coloured box cannot pull it.
        ratio = np.median(nb[coloured] / na[coloured]) if coloured.sum() > 16 else 1.0
        saturation = float(np.clip(ratio, 0.5, 2.0))
        hue_a = hue_a * saturation
    rows, cols = grey_a.shape[0] // CELL, grey_a.shape[1] // CELL

    def blocks(x: np.ndarray) -> np.ndarray:
        """``(rows*cols, CELL*CELL, ...)``: the grid's cells, one row each."""
        x = x[: rows * CELL, : cols * CELL]
        x = x.reshape(rows, CELL, cols, CELL, *x.shape[2:]).swapaxes(1, 2)
        return x.reshape(rows * cols, CELL * CELL, *x.shape[4:])

    inside = blocks(valid)
    used = inside.mean(axis=1) >= 0.5
    if not used.any():
        return Evidence(inliers, 0.0, 0.0, 0.0)
    inside, weight = inside[used], inside[used].sum(axis=1)
    # Medians over each cell's inside pixels: outside ones become NaN and are ignored.
    res = np.where(inside, blocks(residual)[used], np.nan)
    toned = np.nanmedian(res, axis=1) < _TONE_TOLERANCE
    if inliers < overlay_from and toned.mean() < min_tone:
        return Evidence(inliers, 0.0, 0.0, float(toned.mean()))
    if greyscale:
        hue_ok = np.ones(len(toned), dtype=bool)
    else:
        mask = inside[..., None]
        mean_a = (blocks(hue_a)[used] * mask).sum(axis=1) / weight[:, None]
        mean_b = (blocks(hue_b)[used] * mask).sum(axis=1) / weight[:, None]
        hue_ok = np.abs(mean_a - mean_b).max(axis=1) < _HUE_TOLERANCE
    pa, pb = blocks(grey_a)[used], blocks(grey_b)[used]
    ma = (pa * inside).sum(axis=1) / weight
    mb = (pb * inside).sum(axis=1) / weight
    da, db = (pa - ma[:, None]) * inside, (pb - mb[:, None]) * inside
    sa = np.sqrt((da**2).sum(axis=1) / weight)
    sb = np.sqrt((db**2).sum(axis=1) / weight)
    textured = (sa >= _TEXTURED_STD) | (sb >= _TEXTURED_STD * gain)
    ncc = (da * db).sum(axis=1) / weight / np.maximum(sa * sb, 1e-6)
    structure = float((ncc[textured] > _CELL_NCC).mean()) if textured.any() else 0.0
    agree = toned & hue_ok & (~textured | (ncc > _CELL_NCC))
    cells = np.flatnonzero(used)
    overlay = inliers >= overlay_from and _overlay(
        agree, cells // cols, cells % cols, residual, (grid_a, grid_b), valid, (rgb_a, warped)
    )
    return Evidence(inliers, structure, float(hue_ok.mean()), float(toned.mean()), overlay)


def _overlay(
    agree: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    residual: np.ndarray,
    grids: tuple[np.ndarray, np.ndarray],
    valid: np.ndarray,
    full: tuple[np.ndarray, np.ndarray],
) -> bool:
    """Whether the only disagreement is one rectangle that one photo fills with a flat colour
    (a pasted watermark, logo or price box) while the rest of the photos agree.

    The rectangle is found on the grid's pixels, not its cells (a box over 15% of the photo
    touches up to half of the coarse cells): the disagreeing pixels of the box's own fill
    colour, in either photo. Every cell that it touches is excused; the others must agree. A
    different car in the same spot disagrees over the car, where both photos have texture (real
    photos) or both are flat paint (drawn cars); a box pasted on a copy is one colour in that
    copy alone. ``full`` holds the first photo and the second warped onto it (-1 outside its
    frame), at full size.
    """
    if agree.all():
        return False
    bad = (residual > _TONE_TOLERANCE) & valid
    if bad.sum() < CELL * CELL // 2:
        return False
    scale = full[0].shape[1] / valid.shape[1]
    for side in (0, 1):
        box = _fill_box(bad, grids[side], valid)
        if box is None:
            continue
        y, x, h, w = box
        touched = (
            (rows * CELL < y + h)
            & ((rows + 1) * CELL > y)
            & (cols * CELL < x + w)
            & ((cols + 1) * CELL > x)
        )
        if touched.all() or agree[~touched].mean() < _OVERLAY_REST:
            continue
        # Judged at full size, where a box's text strokes are thin against its fill.
        region = (
            slice(int(y * scale), int((y + h) * scale)),
            slice(int(x * scale), int((x + w) * scale)),
        )
        # The warped photo is -1 outside the first one's frame.
        seen = full[1][region][..., 0] >= 0
        pasted = np.maximum(full[side][region], 0.0)
        other = np.maximum(full[1 - side][region], 0.0)
        # Exactly one flat: two drawn cars of flat paint differ over the car, both flat there.
        if _flat(pasted[seen]) and not _flat(other[seen]):
            return True
    return False


def _flat(pixels: np.ndarray) -> bool:
    """Whether much of these ``(n, 3)`` colours' brightness lies near its median (one fill
    colour; JPEG's halved colour resolution blurs a red box's text into its fill, brightness
    less so)."""
    if len(pixels) == 0:
        return False
    grey = pixels.mean(axis=1)
    return bool((np.abs(grey - np.median(grey)) < _FLAT_LEVELS).mean() >= _FLAT_SHARE)


def _fill_box(
    bad: np.ndarray, rgb: np.ndarray, valid: np.ndarray
) -> tuple[int, int, int, int] | None:
    """Return ``(y, x, height, width)`` of the largest blob of disagreeing pixels that share
    the commonest colour of the disagreement in ``rgb`` (a box's fill, its text strokes closed
    over), or None when it covers more than :data:`_OVERLAY_SHARE` of the photo or fills less
    than :data:`_BOX_DENSITY` of its bounding rectangle (a sky between trees is no box), or
    is thinner than :data:`_BOX_MIN_SIDE` (a shifted edge is no box)."""
    cv2 = opencv()
    values = rgb[bad]
    bins = np.clip(values // 32, 0, 7).astype(np.int64) @ np.array([64, 8, 1])
    peak = int(np.argmax(np.bincount(bins, minlength=512)))
    fill = np.median(values[bins == peak], axis=0)
    near = np.abs(rgb - fill).max(axis=2) < _FLAT_LEVELS
    mask = (bad & near).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return None
    x, y, w, h, area = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
    if min(w, h) < _BOX_MIN_SIDE or w * h > _OVERLAY_SHARE * valid.sum():
        return None
    if area < _BOX_DENSITY * w * h:
        return None
    return int(y), int(x), int(h), int(w)


DEFAULT_MIN_INLIERS = 20
DEFAULT_MIN_STRUCTURE = 0.9
DEFAULT_MIN_HUE = 0.75
DEFAULT_MIN_TONE = 0.7
# A pair matched by many keypoints may show less structure (a crop's blurred edge, a
# watermark's text), a pair with a pasted box needs more keypoints: drawn demo cars of one
# model matched with 28-106 inliers and 80-86% structure.
STRONG_INLIERS = 120
STRONG_MIN_STRUCTURE = 0.75
WEAK_INLIERS = 80  # below it, drawings of one template matched at 90-91% structure
WEAK_MIN_STRUCTURE = 0.93
OVERLAY_MIN_INLIERS = 60
# Crops and rotations of realcars-dev photos found through their colour layout alone agreed in
# every cell (structure, hue and tone 1.0); drawn demo cars so found, at most two of the three.
COLOUR_ONLY_MIN_SHARE = 0.95


@dataclass(frozen=True)
class AlignedRule:
    """The thresholds of the aligned comparison (see :meth:`accepts`)."""

    min_inliers: int = DEFAULT_MIN_INLIERS
    min_structure: float = DEFAULT_MIN_STRUCTURE
    min_hue: float = DEFAULT_MIN_HUE
    min_tone: float = DEFAULT_MIN_TONE
    strong_inliers: int = STRONG_INLIERS
    strong_min_structure: float = STRONG_MIN_STRUCTURE
    weak_inliers: int = WEAK_INLIERS
    weak_min_structure: float = WEAK_MIN_STRUCTURE
    overlay_min_inliers: int = OVERLAY_MIN_INLIERS
    colour_only_min_share: float = COLOUR_ONLY_MIN_SHARE

    def accepts(self, evidence: Evidence, colour_only: bool = False) -> bool:
        """Whether the evidence says 'the same photograph': hue and tone shares at their
        minimum and the structure share at ``min_structure`` (``strong_min_structure`` from
        ``strong_inliers`` inliers, ``weak_min_structure`` below ``weak_inliers``), or a
        pasted box the only difference.

        ``colour_only``: the pair was a candidate through its colour layouts alone, its
        hashes far apart, so all three shares must reach ``colour_only_min_share``: a crop or
        rotation of one photograph agrees everywhere once aligned, drawn cars of one model
        and colour (the layout's usual nearest) do not."""
        if colour_only:
            least = self.colour_only_min_share
            return (
                evidence.inliers >= self.min_inliers
                and min(evidence.structure, evidence.hue, evidence.tone) >= least
            )
        if evidence.inliers >= self.overlay_min_inliers and evidence.overlay:
            return True
        if evidence.inliers >= self.strong_inliers:
            structure = self.strong_min_structure
        elif evidence.inliers < self.weak_inliers:
            structure = self.weak_min_structure
        else:
            structure = self.min_structure
        return (
            evidence.inliers >= self.min_inliers
            and evidence.structure >= structure
            and evidence.hue >= self.min_hue
            and evidence.tone >= self.min_tone
        )

    def params(self) -> dict[str, float]:
        """The thresholds, to store with what was decided."""
        return dataclasses.asdict(self)
