"""Perceptual hashes (pHash, dHash) and colour layouts of image files, fast and on every core.

JPEGs are decoded at reduced scale (Pillow's ``draft`` mode asks libjpeg for a 1/2, 1/4 or
1/8 scale IDCT, of the luma channel only when no colour is needed, else as raw YCbCr so the
luma is the same), which is several times faster than a full decode; the hashes are
ImageHash's, computed on the luma. The ``colour`` signature is
:func:`curation.dedup.near_duplicates.colour_signature`, from the same decoded image.
``benchmarks/dedup.py`` measures how far the drafted hashes move from full-resolution ones.

:func:`hash_catalog` hashes the images that lack a kind and stores the values in
``image_hashes`` (hex: 16 characters for the 64-bit hashes, 60 for ``colour``); unreadable
files are recorded as ``hash`` failures.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path

import imagehash
import sqlalchemy as sa
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.engine import Connection

from curation.dedup.near_duplicates import COLOUR_KIND, colour_signature
from pipeline import process_env
from pipeline import schema as t
from pipeline.catalog import Catalog, record_failure
from pipeline.shards import ShardMap, check_shared, split
from pipeline.store import ImageStore

# The pHash of the mirror image: a mirrored repost sits 26-34 bits from its original's pHash
# but within a few bits of this one (the ``orb`` decision's extra candidates).
MIRROR_KIND = "phash_mirror"
HASH_KINDS: tuple[str, ...] = ("phash", "dhash", COLOUR_KIND)  # what is hashed by default
KNOWN_KINDS: tuple[str, ...] = (*HASH_KINDS, MIRROR_KIND)
# 64 asks libjpeg for the smallest scale that keeps both sides >= 64 px (128x96 for a
# 1024x768 photo): plenty for a 32x32 pHash input, and the fastest decode.
DEFAULT_DRAFT_SIZE = 64
SERIAL_BELOW = 32  # fewer files than this are hashed in-process: a pool costs more
_WRITE_BATCH = 500
# Photos per shard handed to a worker: a few seconds of hashing, so a task's overhead
# (tens of milliseconds through Prefect and Dask) stays small.
SHARD_SIZE = 500

_GREY_HASHERS: dict[str, Callable[[Image.Image], imagehash.ImageHash]] = {
    "phash": imagehash.phash,
    "dhash": imagehash.dhash,
}


@dataclass(frozen=True)
class FileHashes:
    """The hashes of one file (``{"phash": "c3d1…", "colour": …}``), or why there are none."""

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
    unknown = [k for k in kinds if k not in KNOWN_KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown hash kind(s) {unknown}; use some of {', '.join(KNOWN_KINDS)}")
    return tuple(kinds)


def hash_image(image: Image.Image, kinds: Sequence[str] = HASH_KINDS) -> dict[str, str]:
    """Return ``{kind: hex}`` for an already opened image (16 hex digits, 60 for colour).

    ``phash_mirror`` is the pHash of the left-right mirrored luma.
    """
    kinds = _check_kinds(kinds)
    if image.mode == "L":
        grey = image
    elif image.mode == "YCbCr":
        grey = image.getchannel(0)
    else:
        grey = image.convert("L")
    out = {}
    for kind in kinds:
        if kind == COLOUR_KIND:
            out[kind] = colour_signature(image)
        elif kind == MIRROR_KIND:
            out[kind] = str(imagehash.phash(ImageOps.mirror(grey)))
        else:
            out[kind] = str(_GREY_HASHERS[kind](grey))
    return out


def hash_file(
    path: str | Path,
    kinds: Sequence[str] = HASH_KINDS,
    draft_size: int | None = DEFAULT_DRAFT_SIZE,
) -> dict[str, str]:
    """Return ``{kind: hex}`` for one image file, e.g. ``{"phash": "d1c4…"}``.

    ``draft_size=None`` decodes at full resolution. Raises ``OSError``/``ValueError`` for
    a file Pillow cannot decode.
    """
    with Image.open(path) as image:
        if draft_size and image.format == "JPEG":
            # Raw YCbCr keeps the luma identical to an "L" draft; colour needs the chroma.
            image.draft("YCbCr" if COLOUR_KIND in kinds else "L", (draft_size, draft_size))
        image.load()
        return hash_image(image, kinds)


def _hash_one(args: tuple[str, tuple[str, ...], int | None]) -> FileHashes:
    path, kinds, draft_size = args
    try:
        return FileHashes(path, hash_file(path, kinds, draft_size))
    except FileNotFoundError as exc:
        return FileHashes(path, None, str(exc), "missing_file")
    except (Image.DecompressionBombError, MemoryError) as exc:
        # Pillow refuses images past its pixel limit before decoding them: a per-file failure,
        # not a crash of the whole run.
        return FileHashes(path, None, f"{type(exc).__name__}: {exc}", "too_large")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return FileHashes(path, None, f"{type(exc).__name__}: {exc}", "undecodable")


def iter_hashes(
    paths: Sequence[str | Path],
    kinds: Sequence[str] = HASH_KINDS,
    *,
    workers: int | None = None,
    draft_size: int | None = DEFAULT_DRAFT_SIZE,
) -> Iterator[FileHashes]:
    """Yield the :class:`FileHashes` of each path, in order, hashed on ``workers`` processes
    (default: every core) of one pool that lives as long as the iteration."""
    kinds = _check_kinds(kinds)
    workers = workers or os.cpu_count() or 1
    tasks = [(str(p), kinds, draft_size) for p in paths]
    if workers == 1 or len(tasks) < SERIAL_BELOW:
        yield from map(_hash_one, tasks)
        return
    chunksize = max(1, min(64, len(tasks) // (workers * 4)))
    # forkserver: safe when the parent already runs threads (Prefect) or TensorFlow.
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=process_env.configure)
    try:
        yield from pool.map(_hash_one, tasks, chunksize=chunksize)
    finally:
        # A consumer that stops early (an error while writing) must not wait for the rest.
        pool.shutdown(wait=True, cancel_futures=True)


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
    results = []
    for result in iter_hashes(paths, kinds, workers=workers, draft_size=draft_size):
        results.append(result)
        if progress:
            progress(1)
    return results


def hash_shard(
    paths: Sequence[str], kinds: Sequence[str], draft_size: int | None
) -> list[FileHashes]:
    """Return the :class:`FileHashes` of ``paths`` hashed in this process, in order.

    The work of one shard on a worker (see :mod:`pipeline.shards`): it reads the files and
    nothing else, and starts no processes (a Dask worker may not have children).
    """
    return [_hash_one((str(p), tuple(kinds), draft_size)) for p in paths]


def _sharded_hashes(
    paths: list[str],
    kinds: tuple[str, ...],
    draft_size: int | None,
    map_shards: ShardMap,
    progress: Callable[[int], None] | None,
) -> Iterator[FileHashes]:
    shards = split(paths, SHARD_SIZE)
    work = partial(hash_shard, kinds=kinds, draft_size=draft_size)
    for shard, results in zip(shards, map_shards(work, shards), strict=True):
        if len(results) != len(shard):
            raise RuntimeError(f"a hash shard of {len(shard)} files returned {len(results)}")
        for path, result in zip(shard, results, strict=True):
            if result.reason == "missing_file":
                check_shared(path)
        yield from results
        if progress:
            progress(len(shard))


def stored_hashes(conn: Connection, kind: str) -> dict[int, str]:
    """Return ``{image_id: hex value}`` of every stored hash of ``kind`` (any image status)."""
    rows = conn.execute(
        sa.select(t.image_hashes.c.image_id, t.image_hashes.c.value).where(
            t.image_hashes.c.kind == kind
        )
    )
    return {int(image_id): value for image_id, value in rows}


def missing_hashes(
    catalog: Catalog, kinds: Sequence[str], statuses: Sequence[str] = ("active",)
) -> list[tuple[int, str]]:
    """Return ``[(image_id, store_path)]`` of images in ``statuses`` lacking any of ``kinds``."""
    with catalog.reading() as conn:
        have_all = (
            sa.select(t.image_hashes.c.image_id)
            .where(t.image_hashes.c.kind.in_(list(kinds)))
            .group_by(t.image_hashes.c.image_id)
            .having(sa.func.count() == len(set(kinds)))
        )
        rows = conn.execute(
            sa.select(t.images.c.id, t.images.c.store_path)
            .where(t.images.c.status.in_(list(statuses)), t.images.c.id.not_in(have_all))
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
    statuses: Sequence[str] = ("active",),
    map_shards: ShardMap | None = None,
) -> HashSummary:
    """Hash every image in ``statuses`` that lacks a hash of ``kinds`` and store the hashes.

    Only the missing kinds are written (an image hashed before a kind existed gets just the
    new one). Returns a :class:`HashSummary`. Failures go to the ``failures`` table (stage
    ``hash``) and are tried again on the next run. The files are hashed by one process pool
    for the whole run, or with ``map_shards`` in shards of :data:`SHARD_SIZE` wherever it runs
    them (the store's path must then be readable there); either way the hashes are written
    here, every few thousand files.
    """
    kinds = _check_kinds(kinds)
    todo = missing_hashes(catalog, kinds, statuses)
    with catalog.reading() as conn:
        total_active = conn.execute(
            sa.select(sa.func.count()).where(t.images.c.status.in_(list(statuses)))
        ).scalar_one()
    hashed = failed = 0
    paths = [str(store.path(relative)) for _, relative in todo]
    if map_shards is None:
        stream = iter_hashes(paths, kinds, workers=workers, draft_size=draft_size)
        if progress:
            stream = _counted(stream, progress)
    else:
        stream = _sharded_hashes(paths, kinds, draft_size, map_shards, progress)
    pending = zip(todo, stream, strict=True)
    while batch_results := list(islice(pending, _WRITE_BATCH * 4)):
        batch = [item for item, _ in batch_results]
        results = [result for _, result in batch_results]
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


def _counted(stream: Iterable[FileHashes], progress: Callable[[int], None]) -> Iterator[FileHashes]:
    for result in stream:
        yield result
        progress(1)
