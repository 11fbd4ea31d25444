"""The one near-duplicate decision used by dedup, check-leaks and the split's units.

:class:`NearDuplicateDecision` is chosen by ``verify``:

* ``"align"`` (the default): each photo's nearest pHash candidates (and pHash-of-the-mirror
  candidates) within ``threshold + ORB_WIDENING`` bits, confirmed on the pixels: ORB keypoints,
  a RANSAC homography, and the aligned photos compared cell by cell for structure, hue and tone
  (:mod:`curation.dedup.alignment`): the same photograph, not the same pose or drawing;
* ``"colour"``: pHash (or dHash) candidates within ``threshold`` bits confirmed
  by the colour layout (:class:`curation.dedup.near_duplicates.NearDuplicateRule`);
* ``"orb"``: pHash candidates within ``threshold + ORB_WIDENING`` bits, and the pHashes of
  mirror images within the same distance (mirrored copies), confirmed on the pixels by ORB
  keypoints and a RANSAC homography (:class:`curation.dedup.verify.GeometricRule`). It reads
  the photos of every candidate pair and keeps greyscale and mirrored copies.

Both take a :class:`PhotoSet` (hashes, colour levels, mirrored hashes, file paths) and return
rows ``(i, j, hash distance)``; :meth:`NearDuplicateDecision.params` is what is stored with each
dedup run (and so each duplicate group) and each split, and
:meth:`NearDuplicateDecision.from_params` rebuilds the decision from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curation.dedup.aligned import (
    NEAREST,
    WIDE_NEAREST,
    nearest_candidates,
    verify_on_workers,
)
from curation.dedup.alignment import AlignedRule
from curation.dedup.hashing import MIRROR_KIND
from curation.dedup.knn import nearest_colours, nearest_within
from curation.dedup.near_duplicates import (
    COLOUR_KIND,
    COLOUR_MAX_DISTANCE,
    DEFAULT_COLOUR_THRESHOLD,
    DEFAULT_PHASH_THRESHOLD,
    NearDuplicateRule,
    colour_levels,
)
from curation.dedup.search import cross_pairs, hamming, hex_to_uint64, pairs_within
from curation.dedup.verify import (
    DEFAULT_MIN_INLIER_FRACTION,
    DEFAULT_MIN_INLIERS,
    FEATURE_SIDE,
    FeatureCache,
    GeometricRule,
)
from pipeline.shards import ShardMap

VERIFY_METHODS = ("align", "colour", "orb")
DEFAULT_VERIFY = "align"
# The decisions that confirm a pair on the photos themselves, from pHash and mirrored-pHash
# candidates.
PIXEL_DECISIONS = ("align", "orb")
# Verified candidates may be looser: crops, watermarks and rotations move a real photo's pHash
# further than the colour check's threshold (benchmarks/dedup_real.py).
ORB_WIDENING = 4
# ``align`` also verifies each photo's nearest hashes up to this far beyond the threshold: a crop
# to 10% or a rotation to 5 degrees moves a real photo's pHash up to 20 bits, yet its original
# stays its nearest hash (benchmarks/dedup_real.py).
ALIGN_REACH = 12
# The wide search compares every query with every base hash (exact, ~1e8 a second): beyond this
# many comparisons in one run (e.g. 45,000 new photos against 45,000) it is left out and only
# the exact radius search finds candidates. README: "Near-duplicates" says so.
WIDE_BUDGET = 2_000_000_000
# ``align`` also verifies each photo's nearest colour layout within this L1 distance: a crop or
# rotation that moves the pHash past a dozen other photos leaves the original the nearest layout
# (crops and rotations of realcars-dev photos: at most 58; the median photo's nearest other
# photo lies at 49). The wide budget bounds this search too.
COLOUR_NEAREST = 1
COLOUR_REACH = 64


def _uint64_or_zero(values: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    present = np.array([bool(v) for v in values], dtype=bool)
    hashes = hex_to_uint64(v if v else "0" for v in values)
    return hashes, present


@dataclass(frozen=True)
class PhotoSet:
    """What the decision needs of ``n`` photos, index ``k`` for each.

    ``hashes``: ``(n,)`` uint64 candidate hashes; ``colours``: ``(levels, present)`` from
    :func:`colour_levels`; ``mirrored``: ``(hashes, present)`` of the mirror images' pHashes;
    ``paths``: the files (None where unknown), read only by the ``orb`` decision.
    """

    hashes: np.ndarray
    colours: tuple[np.ndarray, np.ndarray]
    mirrored: tuple[np.ndarray, np.ndarray]
    paths: Sequence[str | Path | None] = field(default_factory=tuple)

    @classmethod
    def of(
        cls,
        hashes: Sequence[str],
        colours: Sequence[str | None] | None = None,
        mirrored: Sequence[str | None] | None = None,
        paths: Sequence[str | Path | None] | None = None,
    ) -> PhotoSet:
        """Build a set from hex values (None or missing lists: not known for any photo)."""
        n = len(hashes)
        return cls(
            hex_to_uint64(hashes),
            colour_levels(colours if colours is not None else [None] * n),
            _uint64_or_zero(mirrored if mirrored is not None else [None] * n),
            tuple(paths) if paths is not None else (None,) * n,
        )

    def __len__(self) -> int:
        return len(self.hashes)


@dataclass(frozen=True)
class NearDuplicateDecision:
    """Which candidate pairs are the same photograph; see the module docstring.

    ``threshold`` is the candidate Hamming distance (``orb`` widens it by
    :data:`ORB_WIDENING`); ``colour_threshold=None`` trusts the hash alone (``colour`` only);
    ``min_inliers``/``min_inlier_fraction`` are the homography's test (``orb`` only).
    ``unverified`` is what happens to a pair that cannot be checked (missing colour signature,
    unreadable file): ``"drop"`` it (dedup: never mark a photo on weak evidence) or ``"keep"`` it
    (split units: leak-safe).
    """

    verify: str = DEFAULT_VERIFY
    threshold: int = DEFAULT_PHASH_THRESHOLD
    colour_threshold: int | None = DEFAULT_COLOUR_THRESHOLD
    min_inliers: int = DEFAULT_MIN_INLIERS
    min_inlier_fraction: float = DEFAULT_MIN_INLIER_FRACTION
    unverified: str = "drop"

    def __post_init__(self) -> None:
        if self.verify not in VERIFY_METHODS:
            raise ValueError(f"verify={self.verify!r}: use one of {', '.join(VERIFY_METHODS)}")
        if self.unverified not in ("drop", "keep"):
            raise ValueError(f"unverified={self.unverified!r}: use 'drop' or 'keep'")
        if not 0 <= self.threshold <= 32:
            raise ValueError(f"threshold {self.threshold} is outside 0..32")
        if self.colour_threshold is not None and not (
            0 <= self.colour_threshold <= COLOUR_MAX_DISTANCE
        ):
            raise ValueError(
                f"colour threshold {self.colour_threshold} is outside 0..{COLOUR_MAX_DISTANCE}"
            )

    @property
    def candidate_threshold(self) -> int:
        """The Hamming distance of the candidate search."""
        return self.threshold + (ORB_WIDENING if self.verify in PIXEL_DECISIONS else 0)

    def kinds(self, hash_kind: str = "phash") -> tuple[str, ...]:
        """The stored hash kinds the decision reads, e.g. ``("phash", "colour")``."""
        if self.verify == "align":
            return (hash_kind, MIRROR_KIND, COLOUR_KIND)
        if self.verify == "orb":
            return (hash_kind, MIRROR_KIND)
        return (hash_kind,) if self.colour_threshold is None else (hash_kind, COLOUR_KIND)

    @property
    def colour_rule(self) -> NearDuplicateRule:
        """The colour decision these parameters give (``verify == "colour"``)."""
        return NearDuplicateRule(self.threshold, self.colour_threshold, self.unverified)

    @property
    def geometric_rule(self) -> GeometricRule:
        """The ORB + RANSAC decision these parameters give (``verify == "orb"``)."""
        return GeometricRule(self.candidate_threshold, self.min_inliers, self.min_inlier_fraction)

    @property
    def aligned_rule(self) -> AlignedRule:
        """The aligned comparison's thresholds (``verify == "align"``)."""
        return AlignedRule()

    def params(self) -> dict[str, Any]:
        """The parameters to store with what was decided, e.g.
        ``{"verify": "colour", "threshold": 8, "colour_threshold": 40}``."""
        if self.verify == "colour":
            return {
                "verify": "colour",
                "threshold": self.threshold,
                "colour_threshold": self.colour_threshold,
            }
        if self.verify == "align":
            return {
                "verify": "align",
                "threshold": self.threshold,
                "candidate_threshold": self.candidate_threshold,
                "mirrored_candidates": True,
                "nearest": NEAREST,
                "wide_nearest": WIDE_NEAREST,
                "wide_reach": self.threshold + ALIGN_REACH,
                "colour_nearest": COLOUR_NEAREST,
                "colour_reach": COLOUR_REACH,
                **self.aligned_rule.params(),
                "feature_side": FEATURE_SIDE,
            }
        return {
            "verify": "orb",
            "threshold": self.threshold,
            "candidate_threshold": self.candidate_threshold,
            "mirrored_candidates": True,
            "min_inliers": self.min_inliers,
            "min_inlier_fraction": self.min_inlier_fraction,
            "feature_side": FEATURE_SIDE,
        }

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], unverified: str = "drop", **defaults: Any
    ) -> NearDuplicateDecision:
        """Rebuild the decision :meth:`params` stored; ``defaults`` fill what is absent
        (``threshold``, ``colour_threshold``: older rows stored no decision)."""
        fields = _FIELDS if params.get("verify") != "align" else {"verify", "threshold"}
        values = {**defaults, **{k: v for k, v in params.items() if k in fields}}
        return cls(unverified=unverified, **values)

    def pairs_within(
        self,
        photos: PhotoSet,
        method: str = "auto",
        workers: int | None = None,
        map_shards: ShardMap | None = None,
    ) -> np.ndarray:
        """Return the near-duplicate pairs of one set: rows ``(i, j, hash distance)``, i < j.

        ``map_shards`` sends the ``align`` verification to a cluster (:mod:`pipeline.shards`).
        """
        if self.verify == "colour":
            return self.colour_rule.pairs_within(photos.hashes, photos.colours, method, workers)
        r = self.candidate_threshold
        direct = pairs_within(photos.hashes, r, method, workers)  # type: ignore[arg-type]
        hashes, present = photos.mirrored
        keep = np.flatnonzero(present)
        flipped = cross_pairs(photos.hashes, hashes[keep], r, method, workers)  # type: ignore[arg-type]
        if self.verify == "align":
            direct = np.vstack([direct, self._wide(photos.hashes, photos.hashes, True)])
            flipped = np.vstack([flipped, self._wide(photos.hashes, hashes[keep], False)])
        flipped[:, 1] = keep[flipped[:, 1]]
        flipped = flipped[flipped[:, 0] != flipped[:, 1]]
        ordered = np.sort(flipped[:, :2], axis=1)
        flipped = np.column_stack([ordered, flipped[:, 2]])
        if self.verify == "align":
            candidates = nearest_candidates(direct, flipped)
            candidates = self._with_colours(candidates, photos, photos, True)
            return self._aligned(candidates, photos.paths, None, workers, map_shards)
        cache = FeatureCache(photos.paths)
        return self._verified(direct, flipped, cache, cache)

    def cross_pairs(
        self,
        queries: PhotoSet,
        base: PhotoSet,
        method: str = "auto",
        workers: int | None = None,
        map_shards: ShardMap | None = None,
    ) -> np.ndarray:
        """Return near-duplicate (query, base) pairs: rows ``(query i, base j, distance)``."""
        if self.verify == "colour":
            return self.colour_rule.cross_pairs(
                queries.hashes, queries.colours, base.hashes, base.colours, method, workers
            )
        r = self.candidate_threshold
        direct = cross_pairs(queries.hashes, base.hashes, r, method, workers)  # type: ignore[arg-type]
        hashes, present = base.mirrored
        keep = np.flatnonzero(present)
        flipped = cross_pairs(queries.hashes, hashes[keep], r, method, workers)  # type: ignore[arg-type]
        if self.verify == "align":
            direct = np.vstack([direct, self._wide(queries.hashes, base.hashes, False)])
            flipped = np.vstack([flipped, self._wide(queries.hashes, hashes[keep], False)])
        flipped[:, 1] = keep[flipped[:, 1]]
        if self.verify == "align":
            candidates = nearest_candidates(direct, flipped, symmetric=False)
            candidates = self._with_colours(candidates, queries, base, False)
            return self._aligned(candidates, queries.paths, base.paths, workers, map_shards)
        return self._verified(
            direct, flipped, FeatureCache(queries.paths), FeatureCache(base.paths)
        )

    def _wide(self, queries: np.ndarray, base: np.ndarray, same_set: bool) -> np.ndarray:
        """Each query's nearest base hashes within the wide reach (crops, rotations)."""
        if len(queries) * len(base) > WIDE_BUDGET:
            return np.zeros((0, 3), dtype=np.int64)
        reach = self.threshold + ALIGN_REACH
        found = nearest_within(queries, base, WIDE_NEAREST, reach, same_set)
        return found.reshape(-1, 3)

    def _with_colours(
        self, candidates: np.ndarray, queries: PhotoSet, base: PhotoSet, same_set: bool
    ) -> np.ndarray:
        """Add each query's nearest colour layouts to the ``(i, j, mirrored, distance)`` rows,
        compared as they are (a layout is not mirror-invariant), with their pHash distance.
        Returns rows ``(i, j, mirrored, distance, colour only)``, each ``(i, j, mirrored)``
        once; colour only is 1 for the pairs no hash search found as they are."""
        candidates = np.column_stack([candidates, np.zeros(len(candidates), dtype=np.int64)])
        if len(queries) * len(base) > WIDE_BUDGET:
            return candidates
        found = nearest_colours(
            queries.colours, base.colours, COLOUR_NEAREST, COLOUR_REACH, same_set
        )
        if same_set:
            found[:, :2] = np.sort(found[:, :2], axis=1)
        known = {(i, j) for i, j, flip in candidates[:, :3].tolist() if not flip}
        fresh = sorted({(i, j) for i, j in found[:, :2].tolist()} - known)
        if not fresh:
            return candidates
        i, j = np.array(fresh, dtype=np.int64).T
        distance = hamming(queries.hashes[i], base.hashes[j]).astype(np.int64)
        rows = np.column_stack([i, j, np.zeros_like(i), distance, np.ones_like(i)])
        return np.vstack([candidates, rows])

    def _aligned(
        self,
        candidates: np.ndarray,
        paths_a: Sequence[str | Path | None],
        paths_b: Sequence[str | Path | None] | None,
        workers: int | None,
        map_shards: ShardMap | None = None,
    ) -> np.ndarray:
        """Verify ``(i, j, mirrored, distance, colour only)`` rows on the pixels; return
        ``(i, j, distance)``."""
        keep = verify_on_workers(
            candidates, paths_a, paths_b, self.aligned_rule, self.unverified, workers, map_shards
        )
        found = candidates[keep][:, [0, 1, 3]]
        # A pair verified both as is and mirrored is one pair.
        _, first = np.unique(found[:, :2], axis=0, return_index=True)
        return found[np.sort(first)].reshape(-1, 3)

    def _verified(
        self,
        direct: np.ndarray,
        flipped: np.ndarray,
        features_a: FeatureCache,
        features_b: FeatureCache,
    ) -> np.ndarray:
        """Merge direct and mirrored candidates (each pair once, nearest first) and verify."""
        rows: dict[tuple[int, int], tuple[int, int]] = {}
        for flip, found in ((0, direct), (1, flipped)):
            for i, j, d in found.tolist():
                if (i, j) not in rows or d < rows[(i, j)][1]:
                    rows[(i, j)] = (flip, d)
        candidates = np.array(
            [(i, j, flip, d) for (i, j), (flip, d) in sorted(rows.items())], dtype=np.int64
        ).reshape(-1, 4)
        keep = self.geometric_rule.verify(candidates, features_a, features_b, self.unverified)
        return candidates[keep][:, [0, 1, 3]]


_FIELDS = {"verify", "threshold", "colour_threshold", "min_inliers", "min_inlier_fraction"}
