"""Perceptual hashes (pHash, dHash) of image files, fast and on every core.

JPEGs are decoded at reduced scale in grey (Pillow's ``draft`` mode asks libjpeg for a 1/2,
1/4 or 1/8 scale IDCT of the luma channel only), which is several times faster than a full
decode; the hash itself is ImageHash's. ``benchmarks/dedup.py`` measures how far the drafted
hashes move from full-resolution ones.

:func:`hash_catalog` hashes the active images that have no hash yet and stores them in
``image_hashes`` (16-character hex); unreadable files are recorded as ``hash`` failures.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import imagehash
import sqlalchemy as sa
from PIL import Image, UnidentifiedImageError

from pipeline import schema as t
from pipeline.catalog import Catalog, record_failure
from pipeline.store import ImageStore

HASH_KINDS: tuple[str, ...] = ("phash", "dhash")
# 64 asks libjpeg for the smallest scale that keeps both sides >= 64 px (128x96 for a
# 1024x768 photo): plenty for a 32x32 pHash input, and the fastest decode.
DEFAULT_DRAFT_SIZE = 64
SERIAL_BELOW = 32  # fewer files than this are hashed in-process: a pool costs more
_WRITE_BATCH = 500

_HASHERS: dict[str, Callable[[Image.Image], imagehash.ImageHash]] = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
}


@dataclass(frozen=True)
class FileHashes:
    """The hashes of one file (``{"phash": "c3d1…", "dhash": …}``), or why there are none."""

    path: str
    hashes: dict[str, str] | None
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class HashSummary:
    """What :func:`hash_catalog` did: images hashed now, failed, and already hashed."""

    hashed: int
    failed: int
    already: int


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    unknown = [k for k in kinds if k not in _HASHERS]
    if unknown or not kinds:
        raise ValueError(f"unknown hash kind(s) {unknown}; use some of {', '.join(HASH_KINDS)}")
    return tuple(kinds)


def hash_image(image: Image.Image, kinds: Sequence[str] = HASH_KINDS) -> dict[str, str]:
    """Return ``{kind: 16-char hex}`` for an already opened image."""
    grey = image if image.mode == "L" else image.convert("L")
    return {kind: str(_HASHERS[kind](grey)) for kind in _check_kinds(kinds)}


def hash_file(
    path: str | Path,
    kinds: Sequence[str] = HASH_KINDS,
    draft_size: int | None = DEFAULT_DRAFT_SIZE,
) -> dict[str, str]:
    """Return ``{kind: 16-char hex}`` for one image file, e.g. ``{"phash": "d1c4…"}``.

    ``draft_size=None`` decodes at full resolution. Raises ``OSError``/``ValueError`` for
    a file Pillow cannot decode.
    """
    with Image.open(path) as image:
        if draft_size and image.format == "JPEG":
            image.draft("L", (draft_size, draft_size))
        image.load()
        return hash_image(image, kinds)


def _hash_one(args: tuple[str, tuple[str, ...], int | None]) -> FileHashes:
    path, kinds, draft_size = args
    try:
        return FileHashes(path, hash_file(path, kinds, draft_size))
    except FileNotFoundError as exc:
        return FileHashes(path, None, str(exc), "missing_file")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return FileHashes(path, None, f"{type(exc).__name__}: {exc}", "undecodable")


def hash_files(
    paths: Sequence[str | Path],
    kinds: Sequence[str] = HASH_KINDS,
    *,
    workers: int | None = None,
    draft_size: int | None = DEFAULT_DRAFT_SIZE,
    progress: Callable[[int], None] | None = None,
) -> list[FileHashes]:
    """Hash files on ``workers`` processes (default: every core); one result per path, in order.

    A file that cannot be read comes back with ``hashes=None`` and its error, never dropped.
    ``progress`` is called with the number of files finished since the last call.
    """
    kinds = _check_kinds(kinds)
    workers = workers or os.cpu_count() or 1
    tasks = [(str(p), kinds, draft_size) for p in paths]
    if workers == 1 or len(tasks) < SERIAL_BELOW:
        results = []
        for task in tasks:
            results.append(_hash_one(task))
            if progress:
                progress(1)
        return results
    chunksize = max(1, min(64, len(tasks) // (workers * 4)))
    # forkserver: safe when the parent already runs threads (Prefect) or TensorFlow.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        results = []
        for result in pool.map(_hash_one, tasks, chunksize=chunksize):
            results.append(result)
            if progress:
                progress(1)
    return results


def missing_hashes(catalog: Catalog, kinds: Sequence[str]) -> list[tuple[int, str]]:
    """Return ``[(image_id, store_path)]`` of active images lacking any of ``kinds``."""
    with catalog.reading() as conn:
        have_all = (
            sa.select(t.image_hashes.c.image_id)
            .where(t.image_hashes.c.kind.in_(list(kinds)))
            .group_by(t.image_hashes.c.image_id)
            .having(sa.func.count() == len(set(kinds)))
        )
        rows = conn.execute(
            sa.select(t.images.c.id, t.images.c.store_path)
            .where(t.images.c.status == "active", t.images.c.id.not_in(have_all))
            .order_by(t.images.c.id)
        ).all()
    return [(int(r.id), str(r.store_path)) for r in rows]


def hash_catalog(
    catalog: Catalog,
    store: ImageStore,
    kinds: Sequence[str] = HASH_KINDS,
    *,
    workers: int | None = None,
    draft_size: int | None = DEFAULT_DRAFT_SIZE,
    run_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> HashSummary:
    """Hash every active image that has no hash of ``kinds`` yet and store the hashes.

    Returns a :class:`HashSummary`. Failures go to the ``failures`` table (stage ``hash``)
    and are tried again on the next run.
    """
    kinds = _check_kinds(kinds)
    todo = missing_hashes(catalog, kinds)
    with catalog.reading() as conn:
        total_active = conn.execute(
            sa.select(sa.func.count()).where(t.images.c.status == "active")
        ).scalar_one()
    hashed = failed = 0
    for start in range(0, len(todo), _WRITE_BATCH * 4):
        batch = todo[start : start + _WRITE_BATCH * 4]
        results = hash_files(
            [store.path(p) for _, p in batch],
            kinds,
            workers=workers,
            draft_size=draft_size,
            progress=progress,
        )
        with catalog.atomic() as conn:
            ids = [image_id for image_id, _ in batch]
            present = {
                (int(r.image_id), r.kind)
                for r in conn.execute(
                    sa.select(t.image_hashes.c.image_id, t.image_hashes.c.kind).where(
                        t.image_hashes.c.image_id.in_(ids)
                    )
                )
            }
            rows = []
            for (image_id, relative), result in zip(batch, results, strict=True):
                if result.hashes is None:
                    failed += 1
                    record_failure(
                        conn,
                        stage="hash",
                        target=relative,
                        reason=result.reason or "undecodable",
                        detail=result.error or "",
                        run_id=run_id,
                    )
                    continue
                hashed += 1
                rows += [
                    {"image_id": image_id, "kind": kind, "value": value}
                    for kind, value in result.hashes.items()
                    if (image_id, kind) not in present
                ]
            if rows:
                conn.execute(sa.insert(t.image_hashes), rows)
    return HashSummary(hashed=hashed, failed=failed, already=int(total_active) - len(todo))
