"""Plan and render a demo site: listings, photos, and the ground truth the pipeline never reads.

Planning is cheap and pure (one seeded ``random.Random``); rendering draws the photos in a
process pool and is cached under a hash of the config, so a second call only reads JSON.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from PIL import Image

from pipeline import process_env
from pipeline.errors import CarscoutError, ConfigError
from scrapers.demo_site.config import MODEL_NAMES, SiteConfig
from scrapers.demo_site.photos import REPOST_KINDS, PhotoJob, RepostJob, draw_photo, repost_photo

GROUND_TRUTH_FIELDS: tuple[str, ...] = (
    "photo_id",
    "listing_id",
    "listed_model",
    "true_content",
    "wrong_kind",
    "repost_of",
    "repost_kind",
    "width",
    "height",
    "sha256",
)
# Weights of the kinds of wrong photo; "other_model" only exists with two or more models.
WRONG_WEIGHTS: dict[str, float] = {
    "other_model": 0.3,
    "interior": 0.2,
    "document": 0.15,
    "closeup": 0.2,
    "no_car": 0.15,
}
CITIES: tuple[str, ...] = (
    "Delhi", "Mumbai", "Pune", "Bengaluru", "Chennai", "Hyderabad", "Jaipur", "Lucknow",
    "Kolkata", "Ahmedabad", "Chandigarh", "Indore",
)  # fmt: skip
SERIAL_LIMIT = 64  # below this many photos a process pool costs more than it saves


class PhotoRenderError(CarscoutError):
    """A demo-site photo could not be drawn or saved; the message names the photo.

    Raised in a worker with the photo's kind, size and seed, then again by
    :func:`generate_site` with the site's seed in front, so the CLI shows one line instead
    of a process-pool traceback. It takes one message argument, so it crosses processes.
    """


@dataclass(frozen=True)
class Listing:
    """One advert: what the site shows about a car and the ids of its photos, in order."""

    listing_id: str
    model: str
    title: str
    price: int
    year: int
    city: str
    photo_ids: tuple[str, ...]


@dataclass(frozen=True)
class PlannedPhoto:
    """The truth about one listing photo, decided before any pixel is drawn."""

    photo_id: str
    listing_id: str
    listed_model: str
    true_content: str
    wrong_kind: str
    repost_of: str
    repost_kind: str
    width: int
    height: int
    seed: int


@dataclass(frozen=True)
class SitePlan:
    """Every listing and photo of a site, in site order."""

    listings: tuple[Listing, ...]
    photos: tuple[PlannedPhoto, ...]


@dataclass(frozen=True)
class PhotoFile:
    """A rendered photo as served: its size and content hash."""

    photo_id: str
    listing_id: str
    width: int
    height: int
    sha256: str


@dataclass
class GeneratedSite:
    """A rendered site on disk. ``from_cache`` is True when nothing had to be drawn."""

    config: SiteConfig
    root: Path
    listings: tuple[Listing, ...]
    photos: dict[str, PhotoFile]
    from_cache: bool = False
    seconds: float = 0.0
    _by_model: dict[str, list[Listing]] = field(default_factory=dict, repr=False)

    @property
    def ground_truth_path(self) -> Path:
        """Return the path of ``ground_truth.csv`` (for benchmarks and tests only)."""
        return self.root / "ground_truth.csv"

    def photo_path(self, photo_id: str) -> Path:
        """Return the JPEG file of ``photo_id``."""
        return self.root / "photos" / f"{photo_id}.jpg"

    def listings_for(self, model: str) -> list[Listing]:
        """Return the listings of ``model`` in search-result order."""
        if not self._by_model:
            for listing in self.listings:
                self._by_model.setdefault(listing.model, []).append(listing)
        return self._by_model.get(model, [])

    def listing(self, listing_id: str) -> Listing | None:
        """Return the listing with ``listing_id``, or None."""
        return next((x for x in self.listings if x.listing_id == listing_id), None)

    def read_ground_truth(self) -> list[dict[str, str]]:
        """Return the ground-truth rows, one dict per photo with :data:`GROUND_TRUTH_FIELDS`."""
        with self.ground_truth_path.open(newline="") as fh:
            return list(csv.DictReader(fh))


def default_cache_dir() -> Path:
    """Return ``$CARSCOUT_CACHE/demo-site`` or ``~/.cache/carscout/demo-site``."""
    base = os.environ.get("CARSCOUT_CACHE")
    return Path(base) / "demo-site" if base else Path.home() / ".cache" / "carscout" / "demo-site"


def _photo_id(seed: int, model: str, listing: int, index: int) -> str:
    return hashlib.blake2b(f"{seed}/{model}/{listing}/{index}".encode(), digest_size=6).hexdigest()


def plan_site(config: SiteConfig) -> SitePlan:
    """Return the deterministic plan of ``config``: listings, and the truth of every photo."""
    rng = random.Random(f"carscout-demo-site:{config.seed}")
    (w0, h0), (w1, h1) = config.image_size
    listings: list[Listing] = []
    photos: list[PlannedPhoto] = []
    used_ids: set[str] = set()
    for model in config.models:
        display, trims, new_price = MODEL_NAMES[model]
        others = [m for m in config.models if m != model]
        model_listings: list[Listing] = []
        for i in range(config.listings_per_model):
            listing_id = str(rng.randrange(10_000_000, 100_000_000))
            while listing_id in used_ids:
                listing_id = str(rng.randrange(10_000_000, 100_000_000))
            used_ids.add(listing_id)
            year = rng.randint(2010, 2024)
            price = int(new_price * 0.88 ** (2025 - year) * rng.uniform(0.85, 1.1)) // 1000 * 1000
            n = rng.randint(*config.photos_per_listing)
            model_listings.append(
                Listing(
                    listing_id=listing_id,
                    model=model,
                    title=f"{year} {display} {rng.choice(trims)}",
                    price=price,
                    year=year,
                    city=rng.choice(CITIES),
                    photo_ids=tuple(_photo_id(config.seed, model, i, j) for j in range(n)),
                )
            )
        slots = [(li, pid) for li, x in enumerate(model_listings) for pid in x.photo_ids]
        n_repost = round(config.repost_share * len(slots)) if len(model_listings) > 1 else 0
        reposts = set(rng.sample([pid for _, pid in slots], n_repost))
        originals = [(li, pid) for li, pid in slots if pid not in reposts]
        n_wrong = round(config.wrong_share * len(slots))
        wrong = set(rng.sample([pid for _, pid in originals], min(n_wrong, len(originals))))
        kinds = [k for k in WRONG_WEIGHTS if others or k != "other_model"]
        weights = [WRONG_WEIGHTS[k] for k in kinds]
        planned: dict[str, PlannedPhoto] = {}
        for li, pid in originals:
            wrong_kind = rng.choices(kinds, weights)[0] if pid in wrong else ""
            content = rng.choice(others) if wrong_kind == "other_model" else wrong_kind or model
            t = rng.random()
            planned[pid] = PlannedPhoto(
                photo_id=pid,
                listing_id=model_listings[li].listing_id,
                listed_model=model,
                true_content=content,
                wrong_kind=wrong_kind,
                repost_of="",
                repost_kind="",
                width=round(w0 + (w1 - w0) * t) // 8 * 8 or w0,
                height=round(h0 + (h1 - h0) * t) // 8 * 8 or h0,
                seed=rng.getrandbits(63),
            )
        for li, pid in slots:
            if pid not in reposts:
                continue
            # Only when every other listing's photos are reposts too (tiny sites with a big
            # repost_share) is there nothing else to copy; then copy from the same listing.
            candidates = [p for lj, p in originals if lj != li] or [p for _, p in originals]
            source = planned[rng.choice(candidates)]
            planned[pid] = PlannedPhoto(
                photo_id=pid,
                listing_id=model_listings[li].listing_id,
                listed_model=model,
                true_content=source.true_content,
                wrong_kind=source.wrong_kind,
                repost_of=source.photo_id,
                repost_kind=rng.choice(REPOST_KINDS),
                width=source.width,
                height=source.height,
                seed=rng.getrandbits(63),
            )
        listings.extend(model_listings)
        photos.extend(planned[pid] for _, pid in slots)
    return SitePlan(tuple(listings), tuple(photos))


_PAINTER_BUG = "a bug in the demo-site painters: please report this line (another seed avoids it)"


def _render_original(job: PhotoJob, photos_dir: str) -> PhotoFile:
    """Draw and save ``job``; return its file, or raise :class:`PhotoRenderError` naming it."""
    size = f"{job.width}x{job.height}"
    what = f"the {job.content!r} photo {job.photo_id} ({size}, photo seed {job.seed})"
    try:
        data = draw_photo(job)
    except Exception as exc:
        raise PhotoRenderError(
            f"drawing {what} failed: {type(exc).__name__}: {exc}; {_PAINTER_BUG}"
        ) from None
    return _save(job.photo_id, data, photos_dir, what)


def _render_repost(job: RepostJob, photos_dir: str) -> PhotoFile:
    """Make and save repost ``job``; return its file, or raise :class:`PhotoRenderError`."""
    what = f"the {job.kind!r} repost {job.photo_id} of {job.source} (photo seed {job.seed})"
    try:
        data = repost_photo(job, Path(photos_dir, f"{job.source}.jpg").read_bytes())
    except OSError as exc:
        raise PhotoRenderError(f"reading the source of {what} failed: {exc}") from None
    except Exception as exc:
        raise PhotoRenderError(
            f"making {what} failed: {type(exc).__name__}: {exc}; {_PAINTER_BUG}"
        ) from None
    return _save(job.photo_id, data, photos_dir, what)


def _save(photo_id: str, data: bytes, photos_dir: str, what: str) -> PhotoFile:
    """Write ``data`` as ``photo_id``'s JPEG; return its file, or raise PhotoRenderError."""
    try:
        Path(photos_dir, f"{photo_id}.jpg").write_bytes(data)
    except OSError as exc:
        raise PhotoRenderError(
            f"saving {what} failed: {exc}; check the free space and permissions of the "
            "cache dir (--cache-dir or CARSCOUT_CACHE)"
        ) from None
    return _describe(photo_id, data)


def _describe(photo_id: str, data: bytes) -> PhotoFile:
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    return PhotoFile(photo_id, "", width, height, hashlib.sha256(data).hexdigest())


def _run(
    fn: Callable[[Any, str], PhotoFile],
    jobs: Sequence[PhotoJob] | Sequence[RepostJob],
    photos_dir: str,
    pool: ProcessPoolExecutor | None,
    workers: int,
) -> Iterable[PhotoFile]:
    if pool is None:
        return [fn(job, photos_dir) for job in jobs]
    # Several chunks per worker keep both busy to the end without per-photo IPC.
    chunk = max(1, len(jobs) // (8 * workers))
    return pool.map(fn, jobs, [photos_dir] * len(jobs), chunksize=chunk)


def _render(plan: SitePlan, out: Path, workers: int, seed: int) -> dict[str, PhotoFile]:
    """Draw every photo of ``plan`` into ``out/photos``; return the files by photo id.

    Raises :class:`PhotoRenderError` naming the site ``seed`` and the photo that failed.
    """
    photos_dir = out / "photos"
    photos_dir.mkdir(parents=True)
    originals = [
        PhotoJob(p.photo_id, p.true_content, p.width, p.height, p.seed)
        for p in plan.photos
        if not p.repost_of
    ]
    reposts = [
        RepostJob(p.photo_id, p.repost_of, p.repost_kind, p.seed)
        for p in plan.photos
        if p.repost_of
    ]
    files: dict[str, PhotoFile] = {}
    use_pool = workers > 1 and len(plan.photos) >= SERIAL_LIMIT
    spawn = get_context("spawn")
    pool = (
        ProcessPoolExecutor(workers, mp_context=spawn, initializer=process_env.configure)
        if use_pool
        else None
    )
    try:
        for result in _run(_render_original, originals, str(photos_dir), pool, workers):
            files[result.photo_id] = result
        for result in _run(_render_repost, reposts, str(photos_dir), pool, workers):
            files[result.photo_id] = result
    except PhotoRenderError as exc:
        # "from None" drops the worker's remote traceback: the message already says it all.
        raise PhotoRenderError(f"demo site seed {seed}: {exc}") from None
    except BrokenProcessPool as exc:
        raise PhotoRenderError(
            f"demo site seed {seed}: a photo-drawing worker process died ({exc}); "
            "free some memory and run again"
        ) from None
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    listing_of = {p.photo_id: p.listing_id for p in plan.photos}
    return {
        pid: PhotoFile(pid, listing_of[pid], f.width, f.height, f.sha256)
        for pid, f in files.items()
    }


def _write(plan: SitePlan, config: SiteConfig, files: dict[str, PhotoFile], out: Path) -> None:
    site = {
        "content_key": config.content_key(),
        "listings": [
            {
                **{
                    k: getattr(x, k)
                    for k in ("listing_id", "model", "title", "price", "year", "city")
                },
                "photo_ids": list(x.photo_ids),
            }
            for x in plan.listings
        ],
        "photos": {pid: [f.listing_id, f.width, f.height, f.sha256] for pid, f in files.items()},
    }
    (out / "site.json").write_text(json.dumps(site))
    with (out / "ground_truth.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, GROUND_TRUTH_FIELDS)
        writer.writeheader()
        for p in plan.photos:
            f = files[p.photo_id]
            writer.writerow(
                {
                    "photo_id": p.photo_id,
                    "listing_id": p.listing_id,
                    "listed_model": p.listed_model,
                    "true_content": p.true_content,
                    "wrong_kind": p.wrong_kind,
                    "repost_of": p.repost_of,
                    "repost_kind": p.repost_kind,
                    "width": f.width,
                    "height": f.height,
                    "sha256": f.sha256,
                }
            )


def load_site(config: SiteConfig, root: Path) -> GeneratedSite:
    """Return the site already rendered in ``root`` (written by :func:`generate_site`)."""
    data = json.loads((root / "site.json").read_text())
    listings = tuple(Listing(**{**x, "photo_ids": tuple(x["photo_ids"])}) for x in data["listings"])
    photos = {
        pid: PhotoFile(pid, lid, w, h, sha) for pid, (lid, w, h, sha) in data["photos"].items()
    }
    return GeneratedSite(
        config=config, root=root, listings=listings, photos=photos, from_cache=True
    )


def generate_site(
    config: SiteConfig | None = None,
    cache_dir: Path | str | None = None,
    workers: int | None = None,
) -> GeneratedSite:
    """Return the rendered site of ``config``, drawing it only if the cache lacks it.

    The site lives in ``<cache_dir>/site-<content key>``; it is built in a temporary folder
    and renamed into place, so a crash or a concurrent run never leaves half a site.
    Raises :class:`ConfigError` when the cache cannot be created and
    :class:`PhotoRenderError` (one line naming the seed and photo) when a photo fails.
    """
    config = config or SiteConfig()
    started = time.perf_counter()
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = cache / f"site-{config.content_key()}"
    if (root / "site.json").is_file():
        site = load_site(config, root)
        site.seconds = time.perf_counter() - started
        return site
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the demo-site cache {cache}: {exc}; pass another cache_dir "
            "or set CARSCOUT_CACHE"
        ) from exc
    plan = plan_site(config)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        files = _render(plan, tmp, workers or os.cpu_count() or 1, config.seed)
        _write(plan, config, files, tmp)
        try:
            tmp.rename(root)
        except OSError:
            if not (root / "site.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    site = load_site(config, root)
    site.from_cache = False
    site.seconds = time.perf_counter() - started
    return site
