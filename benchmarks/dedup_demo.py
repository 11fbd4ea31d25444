"""The default near-duplicate decision on a whole demo marketplace, beside colour and fastdup.

    .venv/bin/python benchmarks/dedup_demo.py [--site-seed 7] [--workers 2] [--skip-fastdup]

Every photo of the drawn site (the default ``SiteConfig`` at ``--site-seed``; the decision's
thresholds were chosen on seed 5) is one photo here, as if imported with one label. True pairs:
every pair of photos that share an original in ``ground_truth.csv`` (``repost_of``, followed to
the original), and photos with the same sha256. Each method is timed in this run for the whole
decision (hash, search, verification); the default's links are grouped as ``carscout dedup``
groups them (through the kept copy), the others' closed into connected components. fastdup
runs in ``.venv-fastdup`` on the same files (see benchmarks/fastdup_peer.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from dedup_methods import anchored_pairs, fastdup_methods, group_pairs  # noqa: E402

from curation.dedup.components import connected_groups  # noqa: E402
from curation.dedup.decision import NearDuplicateDecision, PhotoSet  # noqa: E402
from curation.dedup.hashing import MIRROR_KIND, hash_files  # noqa: E402
from curation.dedup.near_duplicates import COLOUR_KIND  # noqa: E402


def site_truth(seed: int) -> tuple[list[Path], list[str], set[tuple[str, str]]]:
    """Return ``(paths, names, true pairs)`` of the default demo site at ``seed``."""
    from scrapers.demo_site import SiteConfig, generate_site

    site = generate_site(SiteConfig(seed=seed))
    rows = site.read_ground_truth()
    names = [r["photo_id"] for r in rows]
    index = {n: k for k, n in enumerate(names)}
    links = [(index[r["photo_id"]], index[r["repost_of"]]) for r in rows if r["repost_of"]]
    by_sha: dict[str, list[int]] = {}
    for k, r in enumerate(rows):
        by_sha.setdefault(r["sha256"], []).append(k)
    links += [(g[0], other) for g in by_sha.values() for other in g[1:]]
    truth = {
        tuple(sorted((names[a], names[b])))
        for family in connected_groups(links)
        for a, b in combinations(family, 2)
    }
    return [site.root / "photos" / f"{n}.jpg" for n in names], names, truth


def decide(paths: list[Path], verify: str, workers: int) -> np.ndarray:
    """Hash as ``carscout dedup`` does and return the decision's links over ``paths``."""
    decision = NearDuplicateDecision(verify)
    kinds = decision.kinds()
    hashed = hash_files(paths, kinds, workers=workers)
    photos = PhotoSet.of(
        [h.hashes["phash"] for h in hashed],  # type: ignore[index]
        [h.hashes[COLOUR_KIND] for h in hashed] if COLOUR_KIND in kinds else None,  # type: ignore[index]
        [h.hashes[MIRROR_KIND] for h in hashed] if MIRROR_KIND in kinds else None,  # type: ignore[index]
        paths,
    )
    return decision.pairs_within(photos, workers=workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site-seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-fastdup", action="store_true")
    args = parser.parse_args()
    paths, names, truth = site_truth(args.site_seed)
    rows: dict[str, tuple[float, float, float]] = {}
    for verify in ("align", "colour"):
        start = time.perf_counter()
        links = decide(paths, verify, args.workers)
        seconds = time.perf_counter() - start
        found = (
            anchored_pairs(links, names, paths) if verify == "align" else group_pairs(links, names)
        )
        hits = len(found & truth)
        label = "default (align)" if verify == "align" else "--verify colour"
        rows[label] = (hits / len(found) if found else 1.0, hits / len(truth), seconds)
    if not args.skip_fastdup:
        for label, (found, seconds) in fastdup_methods(paths, names, truth).items():
            hits = len(found & truth)
            rows[label] = (hits / len(found) if found else 1.0, hits / len(truth), seconds)
    print(
        f"\nDemo site seed {args.site_seed}: {len(paths)} photos, {len(truth)} true pairs, "
        f"{args.workers} workers on {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}\n"
    )
    print("| method | precision | recall | photos/s (whole decision) |\n|---|---|---|---|")
    for label, (precision, recall, seconds) in rows.items():
        print(
            f"| {label} | {precision:.3f} | {recall:.3f} | "
            f"{len(paths) / seconds:.0f} ({seconds:.1f} s) |"
        )


if __name__ == "__main__":
    main()
