"""Time the leakage units of ``carscout split`` on its production path, against a named baseline.

Run: ``.venv/bin/python benchmarks/split_units.py`` (under a minute on 2 cores).

For each size a fresh catalog (SQLite, as ``carscout split`` opens it) holds that many active
photos with stored pHashes and colour layouts: random hashes where every tenth photo is a 3-bit
pHash variant of its predecessor with nearly the same colours (a repost, to be joined) and
every tenth, offset by five, a 3-bit variant with other colours (a look-alike, to be kept
apart). The timed call is :func:`curation.splits.units.find_units` with
``unit_decision(DEFAULT_PHASH_THRESHOLD, "colour")``: what ``build_split --verify colour``
runs for a new split (read the stored hashes, exact pHash search, colour check, connected
components). The default ``align`` decision reads the photos, which these random hashes lack:
``benchmarks/dedup_real.py`` and ``benchmarks/dedup_demo.py`` time it.

The baseline (``python pairs``, only for the smaller sizes: it is quadratic in the
interpreter) is a plain Python loop over every pair applying the same rule, its pairs closed
into groups; the script checks that both give the same units.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.dedup.components import connected_groups  # noqa: E402
from curation.dedup.near_duplicates import (  # noqa: E402
    COLOUR_KIND,
    COLOUR_LEVELS,
    DEFAULT_COLOUR_THRESHOLD,
    DEFAULT_PHASH_THRESHOLD,
)
from curation.dedup.search import uint64_to_hex  # noqa: E402
from curation.splits.units import find_units, unit_decision  # noqa: E402
from pipeline import schema as t  # noqa: E402
from pipeline.workspace import Workspace  # noqa: E402

BASELINE_NAME = "python pairs"


def planted(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(phashes, colour levels)`` of ``n`` photos: every tenth a repost of its
    predecessor (3 pHash bits, 2 colour levels changed), every tenth offset by five a look-alike
    (3 pHash bits, other colours)."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    levels = rng.integers(0, 16, size=(n, COLOUR_LEVELS), dtype=np.uint8)
    hashes[1::10] = hashes[0::10][: len(hashes[1::10])] ^ np.uint64(0b1011)
    levels[1::10] = levels[0::10][: len(levels[1::10])]
    levels[1::10, :2] ^= 1
    hashes[6::10] = hashes[5::10][: len(hashes[6::10])] ^ np.uint64(0b1101)
    return hashes, levels


def fill_catalog(workspace: Workspace, hashes: np.ndarray, levels: np.ndarray) -> list[int]:
    """Store one active photo per hash with its pHash and colour layout; return their ids."""
    with workspace.catalog.atomic() as conn:
        conn.execute(
            t.images.insert(),
            [
                {
                    "sha256": f"{i:064x}",
                    "store_path": f"ab/{i:064x}.jpg",
                    "width": 640,
                    "height": 480,
                    "format": "JPEG",
                    "bytes": 1000,
                    "label_scraped": "swift" if i % 2 else "wagonr",
                    "label": "swift" if i % 2 else "wagonr",
                }
                for i in range(len(hashes))
            ],
        )
        ids = [row.id for row in conn.execute(sa.select(t.images.c.id).order_by(t.images.c.id))]
        rows = []
        for image_id, value, colour in zip(ids, hashes.tolist(), levels, strict=True):
            rows.append({"image_id": image_id, "kind": "phash", "value": uint64_to_hex(value)})
            signature = "".join(f"{level:x}" for level in colour.tolist())
            rows.append({"image_id": image_id, "kind": COLOUR_KIND, "value": signature})
        conn.execute(t.image_hashes.insert(), rows)
    return ids


def production_units(workspace: Workspace, ids: list[int]) -> list[list[int]]:
    """The units ``carscout split`` computes for a new split of these photos (its members
    lists, photos alone in a unit included)."""
    decision = unit_decision(DEFAULT_PHASH_THRESHOLD, "colour")
    with workspace.catalog.reading() as conn:
        graph = find_units(
            conn, ids, DEFAULT_PHASH_THRESHOLD, decision=decision, store=workspace.store
        )
    return graph.members()


def python_units(ids: list[int], hashes: np.ndarray, levels: np.ndarray) -> list[list[int]]:
    """The baseline: every pair in a Python loop, the same pHash and colour rule, the pairs
    closed into groups; photos in no pair are units of their own."""
    values = [int(h) for h in hashes]
    colours = [c.astype(np.int16) for c in levels]
    links = [
        (i, j)
        for (i, a), (j, b) in combinations(enumerate(values), 2)
        if (a ^ b).bit_count() <= DEFAULT_PHASH_THRESHOLD
        and int(np.abs(colours[i] - colours[j]).sum()) <= DEFAULT_COLOUR_THRESHOLD
    ]
    grouped = connected_groups(links)
    alone = set(range(len(ids))) - {i for group in grouped for i in group}
    return [[ids[i] for i in group] for group in grouped] + [[ids[i]] for i in sorted(alone)]


def _partition(units: list[list[int]]) -> set[tuple[int, ...]]:
    return {tuple(sorted(unit)) for unit in units}


def main() -> int:
    """Print the timing table; return 1 if production and baseline disagree."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,3000,10000,30000", help="photo counts to time")
    parser.add_argument(
        "--baseline-max", type=int, default=3000, help="largest size to run the Python loop on"
    )
    args = parser.parse_args()
    print(
        f"units of carscout split (find_units, --verify colour decision: pHash <= "
        f"{DEFAULT_PHASH_THRESHOLD} confirmed by colour <= {DEFAULT_COLOUR_THRESHOLD}) on a "
        f"SQLite catalog, vs the baseline '{BASELINE_NAME}' (same rule, every pair in Python)"
    )
    print(
        f"{'photos':>8} {'carscout s':>11} {BASELINE_NAME + ' s':>15} {'speed-up':>9}"
        f" {'units':>7} {'joined':>7}"
    )
    ok = True
    for n in (int(size) for size in args.sizes.split(",")):
        hashes, levels = planted(n)
        with tempfile.TemporaryDirectory() as home, Workspace.open(home=Path(home)) as ws:
            ids = fill_catalog(ws, hashes, levels)
            production_units(ws, ids[:10])  # imports and first connection outside the timing
            start = time.perf_counter()
            units = production_units(ws, ids)
            ours_s = time.perf_counter() - start
        joined = sum(1 for unit in units if len(unit) > 1)
        base_text, speed_text = "-", "-"
        if n <= args.baseline_max:
            start = time.perf_counter()
            base = python_units(ids, hashes, levels)
            base_s = time.perf_counter() - start
            ok &= _partition(base) == _partition(units)
            base_text, speed_text = f"{base_s:.3f}", f"{base_s / ours_s:.0f}x"
        print(f"{n:>8} {ours_s:>11.3f} {base_text:>15} {speed_text:>9} {len(units):>7} {joined:>7}")
    print("production and baseline agree" if ok else "PRODUCTION AND BASELINE DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
