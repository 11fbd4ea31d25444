"""Geometric verification of near-duplicate candidates (ORB keypoints + RANSAC homography).

An experimental second decision, measured by ``benchmarks/dedup_real.py`` against the colour
check of :mod:`curation.dedup.near_duplicates`; not the default (see that benchmark's table).

Candidates come from the exact pHash search as before, but widened: each photo's pHash is also
compared with the pHash of every *mirrored* photo (a mirrored copy sits 26-34 bits from its
original, within 2 bits of the mirrored one), at a looser threshold (crops, rotations and
watermarks move real photos' pHashes 10-16 bits). Each candidate pair is then checked on the
pixels: ORB keypoints of both photos on the grey image (so greyscale copies are not thrown
out), resized to :data:`FEATURE_SIDE` on the long side (a 30% thumbnail has too few
keypoints otherwise), matched with Lowe's ratio test and fitted with a RANSAC homography. The
pair is the same photograph when enough matches are inliers of one homography: a different
car in the same studio pose matches a few wheels and the floor, rarely one consistent plane
of most matches. A pair that fails as is is tried once more with one photo mirrored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from curation.dedup.search import cross_pairs, pairs_within

FEATURE_SIDE = 320
DEFAULT_CANDIDATE_THRESHOLD = 12
DEFAULT_MIN_INLIERS = 40
DEFAULT_MIN_INLIER_FRACTION = 0.8
_RATIO = 0.8  # Lowe's ratio test
_RANSAC_PX = 4.0
_MIN_MATCHES = 8


def opencv():  # noqa: ANN202 - cv2 ships no type hints
    """Return the ``cv2`` module, set to one thread (the callers already run one per core)."""
    import cv2

    cv2.setNumThreads(1)
    return cv2


@dataclass(frozen=True)
class Features:
    """ORB keypoint positions ``(n, 2)`` and descriptors ``(n, 32)`` of one photo (or None)."""

    points: np.ndarray
    descriptors: np.ndarray | None


def photo_for_features(path: str | Path, mode: str, mirrored: bool = False) -> Image.Image:
    """Return the photo in ``mode`` ("L", "RGB") scaled to ``FEATURE_SIDE`` on its long side,
    mirrored left-right if asked. Raises ``OSError``/``ValueError`` for an undecodable file."""
    with Image.open(path) as image:
        if image.format == "JPEG":
            image.draft(mode, (FEATURE_SIDE, FEATURE_SIDE))
        photo = image.convert(mode)
    w, h = photo.size
    scale = FEATURE_SIDE / max(w, h)
    photo = photo.resize(
        (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR
    )
    return ImageOps.mirror(photo) if mirrored else photo


def grey_for_features(path: str | Path, mirrored: bool = False) -> np.ndarray:
    """Return the photo as a grey ``uint8`` array scaled to ``FEATURE_SIDE`` on its long side."""
    return np.asarray(photo_for_features(path, "L", mirrored))


def orb_features(grey: np.ndarray) -> Features:
    """Return the ORB features (at most 500) of a grey array."""
    cv2 = opencv()
    orb = cv2.ORB_create(nfeatures=500, fastThreshold=10)
    keypoints, descriptors = orb.detectAndCompute(grey, None)
    points = np.float32([k.pt for k in keypoints]).reshape(-1, 2)
    return Features(points, descriptors)


def match_inliers(a: Features, b: Features) -> tuple[int, float]:
    """Return ``(inliers, inlier fraction of the ratio-test matches)``; ``(0, 0.0)`` if none."""
    if a.descriptors is None or b.descriptors is None:
        return 0, 0.0
    if len(a.descriptors) < _MIN_MATCHES or len(b.descriptors) < _MIN_MATCHES:
        return 0, 0.0
    cv2 = opencv()
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in matches if len(m) == 2 and m[0].distance < _RATIO * m[1].distance]
    if len(good) < _MIN_MATCHES:
        return 0, 0.0
    src = a.points[[g.queryIdx for g in good]]
    dst = b.points[[g.trainIdx for g in good]]
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, _RANSAC_PX)
    if homography is None:
        return 0, 0.0
    inliers = int(mask.sum())
    return inliers, inliers / len(good)


@dataclass(frozen=True)
class GeometricRule:
    """pHash (and mirrored pHash) candidates confirmed by an ORB + RANSAC homography."""

    candidate_threshold: int = DEFAULT_CANDIDATE_THRESHOLD
    min_inliers: int = DEFAULT_MIN_INLIERS
    min_inlier_fraction: float = DEFAULT_MIN_INLIER_FRACTION

    def params(self) -> dict[str, object]:
        """The decision's parameters, to store with what it decided."""
        return {
            "method": "orb-ransac",
            "candidate_threshold": self.candidate_threshold,
            "min_inliers": self.min_inliers,
            "min_inlier_fraction": self.min_inlier_fraction,
            "feature_side": FEATURE_SIDE,
        }

    def candidates(self, phashes: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
        """Return candidate rows ``(i, j, mirrored 0/1)``, i < j, each pair once."""
        direct = pairs_within(phashes, self.candidate_threshold)
        flipped = cross_pairs(phashes, mirrored, self.candidate_threshold)
        flipped = flipped[flipped[:, 0] != flipped[:, 1]]
        seen: dict[tuple[int, int], int] = {}
        for i, j, _ in direct.tolist():
            seen[(i, j)] = 0
        for i, j, _ in flipped.tolist():
            seen.setdefault((min(i, j), max(i, j)), 1)
        out = np.array([(i, j, f) for (i, j), f in seen.items()], dtype=np.int64)
        return out.reshape(-1, 3)

    def accepts(self, inliers: int, fraction: float) -> bool:
        """Whether a match count and inlier fraction say 'the same photograph'."""
        return inliers >= self.min_inliers and fraction >= self.min_inlier_fraction

    def verify(
        self,
        candidates: np.ndarray,
        features_a: FeatureCache,
        features_b: FeatureCache,
        unreadable: str = "drop",
    ) -> np.ndarray:
        """Return a boolean mask: which candidate rows ``(i, j, mirrored 0/1, ...)`` hold.

        ``i`` indexes ``features_a``, ``j`` ``features_b``. A pair is tried as the candidate
        search found it (mirrored or not) and, failing that, the other way round. A pair where
        either photo cannot be decoded is kept when ``unreadable == "keep"`` (leak-safe split
        units), else dropped.
        """
        keep = np.zeros(len(candidates), dtype=bool)
        for row, (i, j, flip) in enumerate(candidates[:, :3].tolist()):
            a, b = features_a.get(i, False), features_b.get(j, bool(flip))
            if a is None or b is None:
                keep[row] = unreadable == "keep"
                continue
            inliers, fraction = match_inliers(a, b)
            if not self.accepts(inliers, fraction):
                other = features_b.get(j, not flip)
                if other is not None:
                    again = match_inliers(a, other)
                    if again[0] > inliers:
                        inliers, fraction = again
            keep[row] = self.accepts(inliers, fraction)
        return keep

    def pairs_within(
        self, paths: Sequence[str | Path], phashes: np.ndarray, mirrored: np.ndarray
    ) -> np.ndarray:
        """Return the verified pairs of one set of photos: rows ``(i, j, mirrored 0/1)``, i < j.

        ``phashes[k]`` and ``mirrored[k]`` are the pHashes of ``paths[k]`` and of its mirror
        image. Each photo is decoded at most twice (as is and mirrored), only if it is in a
        candidate pair.
        """
        candidates = self.candidates(phashes, mirrored)
        cache = FeatureCache(paths)
        return candidates[self.verify(candidates, cache, cache)]


class FeatureCache:
    """ORB features of a list of photos, computed on first use (as is and mirrored).

    :meth:`get` returns None for a photo that cannot be decoded (missing, broken, a
    decompression bomb) or has no path.
    """

    def __init__(self, paths: Sequence[str | Path | None]) -> None:
        self.paths = paths
        self._cache: dict[tuple[int, bool], Features | None] = {}

    def get(self, k: int, mirrored: bool) -> Features | None:
        """Return the features of photo ``k`` (of its mirror image if ``mirrored``), or None."""
        key = (k, mirrored)
        if key not in self._cache:
            path = self.paths[k]
            try:
                self._cache[key] = (
                    None if path is None else orb_features(grey_for_features(path, mirrored))
                )
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                self._cache[key] = None
        return self._cache[key]


def mirrored_phash(path: str | Path) -> tuple[str, str]:
    """Return ``(pHash, pHash of the mirror image)`` of a file, 16 hex digits each."""
    import imagehash

    with Image.open(path) as image:
        if image.format == "JPEG":
            image.draft("L", (64, 64))
        grey = image.convert("L")
        return str(imagehash.phash(grey)), str(imagehash.phash(ImageOps.mirror(grey)))
