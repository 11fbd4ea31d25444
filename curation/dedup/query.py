"""Query mode (``carscout check-leaks``): which files of a folder are already in the catalog.

:func:`query_folder` checks a folder of images against the catalog's active and duplicate
images (e.g. an outside test set against the training data) with the same near-duplicate
decision as :func:`curation.dedup.run.run_dedup`, without changing any image.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from curation.dedup.decision import DEFAULT_VERIFY, PhotoSet
from curation.dedup.groups import load_index, photo_set
from curation.dedup.hashing import DEFAULT_DRAFT_SIZE, MIRROR_KIND, hash_catalog, hash_files
from curation.dedup.near_duplicates import COLOUR_KIND, DEFAULT_COLOUR_THRESHOLD
from curation.dedup.run import DEFAULT_KIND, DEFAULT_THRESHOLD, DedupConfig
from pipeline.catalog import Catalog
from pipeline.errors import ConfigError
from pipeline.shards import ShardMap
from pipeline.store import ImageStore

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
# Larger files are reported, not read: a photo worth checking is a few MB, and a bigger one is
# either not a photo or a way to make the check run out of memory.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def scan_folder(
    folder: Path, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[list[Path], list[tuple[str, str]]]:
    """Return ``(files, skipped)``: the regular image files under ``folder``, sorted, and
    ``[(path, why)]`` for image-named entries that are not read.

    Only regular files are read (a FIFO, socket or device named ``*.jpg`` would block or never
    end); symbolic links to directories are not followed. Example skipped line:
    ``("/in/pipe.jpg", "not a regular file (fifo)")``.
    """
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                info = path.stat()
            except OSError as exc:
                skipped.append((str(path), f"cannot stat: {exc.strerror or exc}"))
                continue
            if not stat.S_ISREG(info.st_mode):
                kind = (
                    "fifo"
                    if stat.S_ISFIFO(info.st_mode)
                    else "socket"
                    if stat.S_ISSOCK(info.st_mode)
                    else "device or other"
                )
                skipped.append((str(path), f"not a regular file ({kind})"))
            elif info.st_size > max_bytes:
                skipped.append((str(path), f"too large: {info.st_size:,} bytes > {max_bytes:,}"))
            elif not os.access(path, os.R_OK):
                skipped.append((str(path), "not readable (permission denied)"))
            else:
                files.append(path)
    files.sort()
    skipped.sort()
    return files, skipped


@dataclass(frozen=True)
class QueryMatch:
    """A file of the query folder that is a near-duplicate of a catalog image."""

    path: str
    image_id: int
    label: str
    status: str
    distance: int
    store_path: str


@dataclass
class QueryReport:
    """The result of :func:`query_folder`: matches sorted by path then distance.

    ``failures`` holds one ``(path, why)`` line per file that was not checked: skipped by
    :func:`scan_folder` (not a regular file, too large, unreadable) or undecodable (including
    decompression bombs); ``scanned`` counts every image-named entry, checked or not.
    """

    scanned: int
    matches: list[QueryMatch]
    failures: list[tuple[str, str]]

    @property
    def files_with_matches(self) -> int:
        """How many query files have at least one copy in the catalog."""
        return len({m.path for m in self.matches})


def query_folder(
    catalog: Catalog,
    store: ImageStore,
    folder: Path,
    threshold: int = DEFAULT_THRESHOLD,
    hash_kind: str = DEFAULT_KIND,
    workers: int | None = None,
    draft_size: int | None = DEFAULT_DRAFT_SIZE,
    colour_threshold: int | None = DEFAULT_COLOUR_THRESHOLD,
    max_bytes: int = DEFAULT_MAX_BYTES,
    verify: str = DEFAULT_VERIFY,
    map_shards: ShardMap | None = None,
) -> QueryReport:
    """Check every image under ``folder`` against the catalog's active and duplicate images.

    Same decision as :func:`run_dedup` (:class:`curation.dedup.decision.NearDuplicateDecision`,
    ``verify`` "align", "colour" or "orb"). Changes no image; hashes missing from the catalog are
    computed and stored first. ``map_shards`` sends the catalog's hashing and ``align``'s
    pair checks to a cluster (:mod:`pipeline.shards`: the store and ``folder`` at the same
    path there); the folder's files are hashed here.
    """
    config = DedupConfig(
        threshold=threshold, hash_kind=hash_kind, colour_threshold=colour_threshold, verify=verify
    )
    config.validate()
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; pass a directory of images")
    files, skipped = scan_folder(folder, max_bytes)
    hash_catalog(
        catalog,
        store,
        config.kinds,
        workers=workers,
        draft_size=draft_size,
        statuses=("active", "duplicate"),
        map_shards=map_shards,
    )
    results = hash_files(files, config.kinds, workers=workers, draft_size=draft_size)
    ok = [r for r in results if r.hashes]
    failures = skipped + [(r.path, r.error or r.reason or "") for r in results if not r.hashes]
    failures.sort()
    with catalog.reading() as conn:
        index = load_index(conn, hash_kind)
    ids = sorted(index)
    queries = PhotoSet.of(
        [(r.hashes or {})[hash_kind] for r in ok],
        [(r.hashes or {}).get(COLOUR_KIND) for r in ok],
        [(r.hashes or {}).get(MIRROR_KIND) for r in ok],
        [r.path for r in ok],
    )
    base = photo_set(index, ids, store)
    matches = []
    found = config.decision.cross_pairs(queries, base, map_shards=map_shards)
    for qi, bi, d in found.tolist():
        m = index[ids[bi]]
        matches.append(QueryMatch(ok[qi].path, m.image_id, m.label, m.status, d, m.store_path))
    matches.sort(key=lambda m: (m.path, m.distance, m.image_id))
    return QueryReport(scanned=len(files) + len(skipped), matches=matches, failures=failures)
