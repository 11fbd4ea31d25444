"""The default near-duplicate decision's two steps around :mod:`curation.dedup.alignment`:
the nearest candidates of each photo, and their verification on the pixels.

Candidates are the pHash pairs (and pHash-of-the-mirror pairs) within the candidate distance,
but only each photo's :data:`NEAREST` nearest: drawn cars of one model lie within that distance
of hundreds of others, and verifying them all would cost minutes without finding a copy (a
photo's copies are its nearest hashes).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from curation.dedup.alignment import (
    AlignedRule,
    Evidence,
    Pixels,
    compare,
    load_pixels,
    mirror_pixels,
)
from curation.dedup.pair_order import local_order
from pipeline.shards import ShardMap, check_shared

NEAREST = 6  # candidates kept per photo, nearest hash first
WIDE_NEAREST = 2  # beyond the threshold, only this many nearest hashes (direct and mirrored)
CACHED_PHOTOS = 2000
SHARD_PAIRS = 2000  # candidate pairs a cluster task verifies: seconds of work, not milliseconds


def nearest_candidates(
    direct: np.ndarray, flipped: np.ndarray, nearest: int = NEAREST, symmetric: bool = True
) -> np.ndarray:
    """Merge direct and mirrored candidate rows and keep each photo's ``nearest`` ones.

    ``direct`` and ``flipped`` hold rows ``(i, j, distance)``; the result holds rows
    ``(i, j, mirrored 0/1, distance)``, each pair once (its smaller distance), sorted. A pair
    stays when it is among the ``nearest`` of ``i`` or (``symmetric``: both sides index the
    same photos) of ``j``.
    """
    best: dict[tuple[int, int], tuple[int, int]] = {}
    for flip, found in ((0, direct), (1, flipped)):
        for i, j, d in found.tolist():
            if symmetric and i == j:
                continue
            key = (min(i, j), max(i, j)) if symmetric else (i, j)
            if key not in best or d < best[key][1]:
                best[key] = (flip, d)
    by_photo: dict[tuple[int, int], list[tuple[int, tuple[int, int]]]] = {}
    for key, (_, d) in best.items():
        by_photo.setdefault((0, key[0]), []).append((d, key))
        by_photo.setdefault((1 if not symmetric else 0, key[1]), []).append((d, key))
    kept: set[tuple[int, int]] = set()
    for found in by_photo.values():
        kept.update(key for _, key in sorted(found)[:nearest])
    rows = [(i, j, best[(i, j)][0], best[(i, j)][1]) for i, j in sorted(kept)]
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


class PixelCache:
    """:class:`Pixels` of a list of photos, loaded on first use (as is and mirrored), the
    ``size`` most recently used kept (about 0.25 MB each).

    :meth:`get` returns None for a photo that cannot be decoded or has no path.
    """

    def __init__(self, paths: Sequence[str | Path | None], size: int = CACHED_PHOTOS) -> None:
        self.paths = paths
        self.size = size
        self._cache: OrderedDict[tuple[int, bool], Pixels | None] = OrderedDict()

    def get(self, k: int, mirrored: bool) -> Pixels | None:
        """Return photo ``k``'s pixels (of its mirror image if ``mirrored``), or None."""
        key = (k, mirrored)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if mirrored:
            # Scaled, then mirrored: the photo as is, mirrored, without decoding it again.
            photo = self.get(k, False)
            found = None if photo is None else mirror_pixels(photo)
        else:
            path = self.paths[k]
            try:
                found = None if path is None else load_pixels(path)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                found = None
        self._cache[key] = found
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)  # least recently used
        return found


def evidence_of(
    row: Sequence[int], a: PixelCache, b: PixelCache, rule: AlignedRule
) -> Evidence | None:
    """Return the evidence for one candidate row ``(i, j, mirrored, ...)``; None if unreadable.

    The pair is compared the way round the search found it (its own hash or its mirror
    image's nearer): decoding and matching the other way too doubled the cost of every
    candidate that is not a copy.
    """
    i, j, flip = int(row[0]), int(row[1]), bool(row[2])
    first, second = a.get(i, False), b.get(j, flip)
    if first is None or second is None:
        return None
    return compare(first, second, rule.min_inliers, rule.min_tone, rule.overlay_min_inliers)


ACCEPTED, REJECTED, UNREADABLE = 1, 0, -1
# Candidate rows are (i, j, mirrored, distance, colour only): 1 in the fifth column marks a
# pair found through its colour layouts alone (AlignedRule.accepts' colour_only).
COLOUR_ONLY_COLUMN = 4


def verdicts_of(
    candidates: np.ndarray, a: PixelCache, b: PixelCache, rule: AlignedRule
) -> np.ndarray:
    """Return an ``int8`` verdict per candidate row ``(i, j, mirrored, distance, colour
    only)``: :data:`ACCEPTED`, :data:`REJECTED`, or :data:`UNREADABLE` (a photo cannot be
    decoded)."""
    out = np.full(len(candidates), REJECTED, dtype=np.int8)
    for n, row in enumerate(candidates.tolist()):
        found = evidence_of(row, a, b, rule)
        if found is None:
            out[n] = UNREADABLE
        else:
            colour_only = bool(row[COLOUR_ONLY_COLUMN])
            out[n] = ACCEPTED if rule.accepts(found, colour_only) else REJECTED
    return out


def _policy(verdicts: np.ndarray, unreadable: str) -> np.ndarray:
    """The mask of pairs that hold: accepted ones, and unreadable ones when ``unreadable`` is
    "keep" (leak-safe split units; dedup drops them)."""
    return (verdicts == ACCEPTED) | ((verdicts == UNREADABLE) & (unreadable == "keep"))


Paths = Sequence[str | Path | None]


def _verify_chunk(args: tuple[np.ndarray, Paths, Paths | None, AlignedRule]) -> np.ndarray:
    candidates, paths_a, paths_b, rule = args
    a = PixelCache(paths_a)
    b = a if paths_b is None else PixelCache(paths_b)
    return verdicts_of(candidates, a, b, rule)


def _job(
    chunk: np.ndarray,
    paths_a: Sequence[str | Path | None],
    paths_b: Sequence[str | Path | None] | None,
    rule: AlignedRule,
) -> tuple:
    """One chunk's work with only the paths it reads, its rows renumbered to them."""
    rows = chunk.copy()
    if paths_b is None:
        used = np.unique(chunk[:, :2])
        rows[:, :2] = np.searchsorted(used, chunk[:, :2])
        return (rows, [paths_a[k] for k in used.tolist()], None, rule)
    used_a, used_b = np.unique(chunk[:, 0]), np.unique(chunk[:, 1])
    rows[:, 0] = np.searchsorted(used_a, chunk[:, 0])
    rows[:, 1] = np.searchsorted(used_b, chunk[:, 1])
    local_a = [paths_a[k] for k in used_a.tolist()]
    return (rows, local_a, [paths_b[k] for k in used_b.tolist()], rule)


# Verdicts already reached in this process, by (file a, file b, mirrored, rule): `carscout run`
# verifies many of the same candidates in dedup and again for the split's units, and store
# files are named by their content, so a verdict stays true.
_VERDICTS: OrderedDict[tuple, int] = OrderedDict()
REMEMBERED_VERDICTS = 1_000_000


def verify_on_workers(
    candidates: np.ndarray,
    paths_a: Sequence[str | Path | None],
    paths_b: Sequence[str | Path | None] | None,
    rule: AlignedRule,
    unreadable: str = "drop",
    workers: int | None = None,
    map_shards: ShardMap | None = None,
) -> np.ndarray:
    """Return a boolean mask: which candidate rows ``(i, j, mirrored, distance, colour
    only)`` hold (see :func:`_policy` for unreadable photos), their :func:`verdicts_of`
    reached on ``workers`` processes (default: every core), or as shards through
    ``map_shards`` (a cluster, see :mod:`pipeline.shards`); the same mask either way.

    ``paths_b=None``: both sides index ``paths_a`` (one set searched against itself). Rows
    are verified in :func:`local_order`, cut into contiguous chunks, so each process decodes
    mostly its own photos; each chunk carries only the paths it reads. A pair this process
    has verified before (the same files, the same rule) is not verified again.
    """
    side_b = paths_a if paths_b is None else paths_b
    keys = [
        (str(paths_a[i]), str(side_b[j]), flip, colour_only, rule)
        if paths_a[i] is not None and side_b[j] is not None
        else None
        for i, j, flip, _, colour_only in candidates.tolist()
    ]
    verdicts = np.full(len(candidates), UNREADABLE, dtype=np.int8)
    todo = []
    for n, key in enumerate(keys):
        known = _VERDICTS.get(key) if key is not None else None
        if known is None:
            todo.append(n)
        else:
            verdicts[n] = known
    if todo:
        rows = candidates[todo]
        order = local_order(rows, len(paths_a), None if paths_b is None else len(paths_b))
        fresh = np.empty(len(rows), dtype=np.int8)
        fresh[order] = _verify_fresh(rows[order], paths_a, paths_b, rule, workers, map_shards)
        verdicts[todo] = fresh
        for n, verdict in zip(todo, fresh.tolist(), strict=True):
            if keys[n] is not None and verdict != UNREADABLE:
                _VERDICTS[keys[n]] = verdict
        while len(_VERDICTS) > REMEMBERED_VERDICTS:
            _VERDICTS.popitem(last=False)
    return _policy(verdicts, unreadable)


def _verify_fresh(
    candidates: np.ndarray,
    paths_a: Sequence[str | Path | None],
    paths_b: Sequence[str | Path | None] | None,
    rule: AlignedRule,
    workers: int | None,
    map_shards: ShardMap | None,
) -> np.ndarray:
    """The verdicts of :func:`verify_on_workers`' rows (in :func:`local_order`), every row
    computed: contiguous chunks, one per process or :data:`SHARD_PAIRS` rows a shard."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    from pipeline.process_env import configure

    if map_shards is not None:
        chunks = np.array_split(candidates, max(1, len(candidates) // SHARD_PAIRS))
        jobs = [_job(c, paths_a, paths_b, rule) for c in chunks if len(c)]
        parts = list(map_shards(_verify_chunk, jobs))
        # A photo a worker could not decode but this process can: that worker lacks the store.
        for (rows, local_a, local_b, _), verdicts in zip(jobs, parts, strict=True):
            for i, j, _ in rows[verdicts == UNREADABLE, :3].tolist():
                for path in (local_a[i], (local_a if local_b is None else local_b)[j]):
                    if path is not None and PixelCache([path]).get(0, False) is not None:
                        check_shared(str(path))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(candidates) < 64:
        a = PixelCache(paths_a)
        b = a if paths_b is None else PixelCache(paths_b)
        return verdicts_of(candidates, a, b, rule)
    # One chunk per process: more chunks balance the load better but read each photo again in
    # every chunk that meets it.
    chunks = np.array_split(candidates, workers)
    jobs = [_job(c, paths_a, paths_b, rule) for c in chunks if len(c)]
    # forkserver: safe when the parent already runs threads (Prefect) or TensorFlow.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=configure) as pool:
        parts = list(pool.map(_verify_chunk, jobs))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8)
