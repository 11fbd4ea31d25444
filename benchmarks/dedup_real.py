"""Dedup on real photos: carscout's decision vs a pHash-at-default-threshold baseline.

    .venv/bin/python benchmarks/dedup_real.py [--per-kind 30] [--seed 7] [--workers 2]
        [--repeats 3]

The photos are realcars-dev's 1,248 real car photos (``../shared/realcars-dev``, see its
README), with its own reposts (``repost``/``repost_of`` in truth.json) and its manufacturer
stock shots (different cars in the same pose on white: the hard negatives). To them the script
adds seeded copies of ``--per-kind`` original photos for every kind of copy the goal lists:
resize to 30%, JPEG quality 20-30, PNG/WebP re-encode, crop up to 10% a side,
brightness/contrast +-30%, a watermark/logo/text box over up to 15% of the photo, mirror,
greyscale, rotation up to 5 degrees, aspect squeeze up to 10%. The copies are cached under
``~/.cache/carscout/bench-dedup-real``.

Every method's accepted pairs are closed into groups (connected components, as ``carscout
dedup`` does) and scored as pairs inside groups against the true repost families: precision
and recall overall and recall per kind of copy (a copy counts as found when it shares a group
with its source). The peer is imagededup's PHash rule at its default threshold (max Hamming
distance 10), re-implemented, not imagededup itself (it pulls in torch): plain pHash <= 10
with imagehash on the full-resolution greyscale photo, on the same pairs. carscout's hashing
is also timed at the same work and rule (full decode, pHash only, <= 10) next to its
defaults. Each method is timed in the same run for the whole decision (hash + search +
verification); the hashing methods ``--repeats`` times in alternating order (median).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import dedup_methods  # noqa: E402
import numpy as np  # noqa: E402
from dedup_methods import (  # noqa: E402
    BASELINE_THRESHOLD,
    METHODS,
    aligned_method,
    anchored_pairs,
    baseline_method,
    current_method,
    fastdup_methods,
    group_pairs,
    same_work_method,
)
from PIL import Image, ImageDraw, ImageEnhance, ImageOps  # noqa: E402

from curation.dedup.decision import ORB_WIDENING, NearDuplicateDecision  # noqa: E402
from curation.dedup.verify import GeometricRule  # noqa: E402

DATA = ROOT.parent / "shared" / "realcars-dev"
CACHE = Path.home() / ".cache" / "carscout" / "bench-dedup-real"
COPY_KINDS = (
    "resize30",
    "jpeg20-30",
    "png/webp",
    "crop<=10%",
    "bright/contrast",
    "watermark",
    "mirror",
    "greyscale",
    "rotate<=5",
    "squeeze<=10%",
)


def _watermark(image: Image.Image, rng: random.Random) -> Image.Image:
    """Cover 5-15% of the photo with a box (white, black or a logo colour) holding text."""
    out = image.copy()
    w, h = out.size
    share = rng.uniform(0.05, 0.15)
    aspect = rng.uniform(1.5, 4.0)
    bw = min(w, int((share * w * h * aspect) ** 0.5))
    bh = min(h, int(share * w * h / bw))
    x = rng.choice([0, w - bw, (w - bw) // 2, rng.randint(0, w - bw)])
    y = rng.choice([0, h - bh, rng.randint(0, h - bh)])
    draw = ImageDraw.Draw(out, "RGBA")
    fill = rng.choice(
        [(255, 255, 255, 255), (0, 0, 0, 255), (200, 30, 30, 220), (20, 60, 160, 200)]
    )
    draw.rectangle([x, y, x + bw, y + bh], fill=fill)
    ink = (0, 0, 0, 255) if sum(fill[:3]) > 500 else (255, 255, 255, 255)
    for line in range(max(1, bh // 14)):
        draw.text((x + 4, y + 2 + 14 * line), "CARSCOUT DEALS 555-0199", fill=ink)
    return out


def make_copy(image: Image.Image, kind: str, rng: random.Random) -> tuple[Image.Image, str, dict]:
    """Return ``(copy, file suffix, save options)`` for one kind of copy of an RGB image."""
    w, h = image.size
    if kind == "resize30":
        return image.resize((max(1, w * 3 // 10), max(1, h * 3 // 10)), Image.LANCZOS), ".jpg", {}
    if kind == "jpeg20-30":
        return image, ".jpg", {"quality": rng.randint(20, 30)}
    if kind == "png/webp":
        return (image, ".png", {}) if rng.random() < 0.5 else (image, ".webp", {"quality": 80})
    if kind == "crop<=10%":
        f = [rng.uniform(0.0, 0.10) for _ in range(4)]
        box = (int(w * f[0]), int(h * f[1]), int(w * (1 - f[2])), int(h * (1 - f[3])))
        return image.crop(box), ".jpg", {}
    if kind == "bright/contrast":
        out = ImageEnhance.Brightness(image).enhance(
            rng.choice([-1, 1]) * rng.uniform(0.15, 0.3) + 1
        )
        out = ImageEnhance.Contrast(out).enhance(rng.choice([-1, 1]) * rng.uniform(0.15, 0.3) + 1)
        return out, ".jpg", {}
    if kind == "watermark":
        return _watermark(image, rng), ".jpg", {}
    if kind == "mirror":
        return ImageOps.mirror(image), ".jpg", {}
    if kind == "greyscale":
        return image.convert("L"), ".jpg", {}
    if kind == "rotate<=5":
        angle = rng.choice([-1, 1]) * rng.uniform(2.0, 5.0)
        out = image.rotate(angle, Image.BICUBIC, expand=False, fillcolor=(255, 255, 255))
        return out, ".jpg", {}
    if kind == "squeeze<=10%":
        f = rng.uniform(0.90, 0.95)
        size = (int(w * f), h) if rng.random() < 0.5 else (w, int(h * f))
        return image.resize(size, Image.LANCZOS), ".jpg", {}
    raise ValueError(kind)


def build_set(per_kind: int, seed: int) -> tuple[list[Path], list[str], dict[str, tuple[str, str]]]:
    """Return ``(paths, names, copies)``: every photo and ``{copy name: (source name, kind)}``.

    realcars-dev's own reposts appear in ``copies`` with the kind ``set:<repost>``.
    """
    files = json.loads((DATA / "truth.json").read_text())["files"]
    names = sorted(files)
    copies = {n: (v["repost_of"], f"set:{v['repost']}") for n, v in files.items() if v["repost_of"]}
    involved = set(copies) | {s for s, _ in copies.values()}
    originals = [n for n in names if n not in involved]
    rng = random.Random(seed)
    sources = rng.sample(originals, per_kind * len(COPY_KINDS))
    out = CACHE / f"seed{seed}-per{per_kind}"
    done = out / "done.json"
    if not done.is_file():
        made: dict[str, list[str]] = {}
        for k, kind in enumerate(COPY_KINDS):
            for n, source in enumerate(sources[k * per_kind : (k + 1) * per_kind]):
                with Image.open(DATA / "photos" / source) as im:
                    copy, suffix, options = make_copy(im.convert("RGB"), kind, rng)
                slug = kind.replace("/", "_").replace("%", "").replace("<=", "le")
                name = f"copy/{slug}-{n:03d}{suffix}"
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                copy.save(out / name, **options)
                made[name] = [source, kind]
        done.write_text(json.dumps(made))
    made = json.loads(done.read_text())
    paths = [DATA / "photos" / n for n in names] + [out / n for n in sorted(made)]
    all_names = names + sorted(made)
    copies.update({n: (s, k) for n, (s, k) in made.items()})
    return paths, all_names, copies


def true_pairs(names: list[str], copies: dict[str, tuple[str, str]]) -> set[tuple[str, str]]:
    """Every pair inside a true repost family: a photo and all its copies, with the photos
    that Stanford Cars holds twice (truth.json's ``same_photo``) and their copies as one."""
    index = {n: i for i, n in enumerate(names)}
    links = [(index[c], index[s]) for c, (s, _) in copies.items()]
    for group in json.loads((DATA / "truth.json").read_text()).get("same_photo", []):
        links += [(index[group[0]], index[other]) for other in group[1:]]
    return group_pairs(np.array(links, dtype=np.int64).reshape(-1, 2), names)


def score(
    found: set[tuple[str, str]],
    truth: set[tuple[str, str]],
    copies: dict[str, tuple[str, str]],
    classes: dict[str, str],
) -> dict[str, object]:
    """Precision, recall, per-kind recall and the false pairs of one method."""
    hits = len(found & truth)
    false = found - truth
    own = {p for p in found if p[0] in classes and p[1] in classes and "/" in p[0]}
    own = {p for p in own if not p[0].startswith("copy/") and not p[1].startswith("copy/")}
    own_truth = {p for p in truth if not p[0].startswith("copy/") and not p[1].startswith("copy/")}
    per_kind: dict[str, list[int]] = {}
    for copy, (source, kind) in copies.items():
        counts = per_kind.setdefault(kind, [0, 0])
        counts[0] += tuple(sorted((copy, source))) in found
        counts[1] += 1
    same_class = sum(1 for a, b in false if a in classes and classes.get(a) == classes.get(b))
    return {
        "precision": hits / len(found) if found else 1.0,
        "recall": hits / len(truth) if truth else 1.0,
        "per_kind": per_kind,
        "false": len(false),
        "own_precision": len(own & own_truth) / len(own) if own else 1.0,
        "own_recall": len(own & own_truth) / len(own_truth) if own_truth else 1.0,
        "false_same_model": same_class,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-kind", type=int, default=30, help="Seeded copies per kind.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--repeats", type=int, default=3, help="Times each hashing method is timed (median)."
    )
    parser.add_argument("--only", default="", help="Run only methods whose name has this text.")
    parser.add_argument("--skip-fastdup", action="store_true", help="Leave the fastdup peer out.")
    defaults = GeometricRule()
    parser.add_argument(
        "--candidate", type=int, default=dedup_methods.GEOMETRIC.candidate_threshold
    )
    parser.add_argument("--min-inliers", type=int, default=defaults.min_inliers)
    parser.add_argument("--min-fraction", type=float, default=defaults.min_inlier_fraction)
    args = parser.parse_args()
    # The method table's orb method reads it.
    dedup_methods.GEOMETRIC = NearDuplicateDecision(
        "orb", args.candidate - ORB_WIDENING, None, args.min_inliers, args.min_fraction
    )
    if not (DATA / "truth.json").is_file():
        sys.exit(f"{DATA} is missing: this benchmark needs the realcars-dev photos")
    paths, names, copies = build_set(args.per_kind, args.seed)
    truth = true_pairs(names, copies)
    files = json.loads((DATA / "truth.json").read_text())["files"]
    classes = {n: files[n]["class"] for n in files} | {
        c: files[s]["class"] for c, (s, _) in copies.items()
    }
    chosen = {n: m for n, m in METHODS.items() if not args.only or args.only in n}
    # The hashing methods take seconds: each is timed --repeats times, the order alternating
    # (the first pays for cold files and worker start-up); the ORB methods once.
    quick = [
        n for n, m in chosen.items() if m in (baseline_method, same_work_method, current_method)
    ]
    runs: list[str] = []
    for repeat in range(args.repeats):
        runs += quick if repeat % 2 == 0 else quick[::-1]
    runs += [n for n in chosen if n not in quick]
    timings: dict[str, list[float]] = {}
    results = {}
    for name in runs:
        start = time.perf_counter()
        links = chosen[name](paths, args.workers)
        timings.setdefault(name, []).append(time.perf_counter() - start)
        found = (
            anchored_pairs(links, names, paths)
            if chosen[name] is aligned_method
            else group_pairs(links, names)
        )
        results[name] = score(found, truth, copies, classes)
    if not args.skip_fastdup:
        for name, (found, seconds) in fastdup_methods(paths, names, truth).items():
            results[name] = score(found, truth, copies, classes)
            timings[name] = [seconds]
    results = {n: results[n] for n in [*chosen, *(n for n in results if n not in chosen)]}
    for name, result in results.items():
        result["seconds"] = float(np.median(timings[name]))
        result["rate"] = len(paths) / result["seconds"]

    kinds = sorted({k for _, k in copies.values()}, key=lambda k: (k.startswith("set:"), k))
    print(
        f"\nDedup on real photos — {len(paths)} photos (realcars-dev {len(files)} + "
        f"{len(paths) - len(files)} seeded copies, seed {args.seed}), {len(truth)} true pairs, "
        f"{args.workers} workers on {os.cpu_count()} cores\n"
        "Peer: a re-implementation of imagededup's PHash default (imagededup itself needs "
        f"torch and is not run here): pHash <= {BASELINE_THRESHOLD} with imagehash on the "
        "full-resolution greyscale photo. Every method's pairs are closed into groups the "
        "same way and every method is timed in this run (hash + search + verification).\n"
    )
    header = ["measure", *results]
    rows = [
        ["precision (pairs in groups)", *(f"{r['precision']:.3f}" for r in results.values())],
        ["recall (pairs in groups)", *(f"{r['recall']:.3f}" for r in results.values())],
        [
            "realcars-dev alone: precision",
            *(f"{r['own_precision']:.3f}" for r in results.values()),
        ],
        ["realcars-dev alone: recall", *(f"{r['own_recall']:.3f}" for r in results.values())],
        [
            "false pairs / of them same model",
            *(f"{r['false']} / {r['false_same_model']}" for r in results.values()),
        ],
        [
            "photos/s, whole decision (median)",
            *(f"{r['rate']:.0f} ({r['seconds']:.1f} s)" for r in results.values()),
        ],
    ]
    for kind in kinds:
        cells = []
        for r in results.values():
            hit, total = r["per_kind"][kind]  # type: ignore[index]
            cells.append(f"{hit / total:.3f} ({hit}/{total})")
        rows.append([f"recall {kind}", *cells])
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    for n, row in enumerate([header, *rows]):
        print("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print(
        "\nGoal: precision >= 0.99, recall >= 0.97, recall >= 0.95 for every kind, "
        ">= 50 photos/s for the whole decision on 2 cores."
    )


if __name__ == "__main__":
    main()
