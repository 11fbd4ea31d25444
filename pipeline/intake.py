"""Safe image intake: validate bytes with Pillow, normalize the awkward cases, store, catalog.

:func:`intake_image` (bytes) and :func:`intake_files` (a batch of local files) are the one door
every photo comes in by (scraper, ``carscout import``, tests). Each photo is either stored with
its provenance or recorded as a failure with a short reason code; other rows are never touched.
Pillow's checks and normalization are in :mod:`pipeline.intake_normalize`; this module stores
and records.

Durability, in this order: each new store file is flushed to disk before it takes its name, the
store folders that received names are flushed, and only then are the catalog rows committed
(durably: :meth:`pipeline.catalog.Catalog.atomic` ``durable=True``), one transaction per batch.
So a power cut or a kill at any point leaves no catalog row without its whole file and no
partial file under a real name; files written for an unfinished batch have no rows yet and are
adopted when the photos are taken in again.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline import schema as t
from pipeline.catalog import Catalog, record_failure
from pipeline.errors import ConfigError, IntakeRejected
from pipeline.intake_normalize import NormalizedImage, validate_and_normalize
from pipeline.settings import IntakeLimits
from pipeline.store import EXTENSIONS, ImageStore, sha256_of

# The catalog's label columns are VARCHAR(200): PostgreSQL enforces it, SQLite would not.
MAX_LABEL_LENGTH = 200
# Values per IN (…) list: below SQLite's oldest limit on bound parameters (999).
SQL_CHUNK = 500


def printable(text: str) -> str:
    """Return ``text`` with undecodable file-name bytes written as ``\\xNN`` so it can be stored.

    A file name that is not UTF-8 arrives as a str with surrogate escapes; the result is valid
    UTF-8, stable across runs, and plain text when there was nothing to escape.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = os.fsencode(text)
        except UnicodeEncodeError:  # a lone surrogate that did not come from a file name
            raw = text.encode("utf-8", "backslashreplace")
        return raw.decode("utf-8", "backslashreplace")
    return text


def describe_exception(exc: BaseException) -> str:
    """Return ``"TypeName: message (at file.py:line in function)"`` for a failure row."""
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
    return f"{type(exc).__name__}: {exc}{where}"


def check_label(label: str) -> None:
    """Raise :class:`ConfigError` for a label the catalog cannot hold on every backend (longer
    than :data:`MAX_LABEL_LENGTH` characters); return None otherwise."""
    if len(label) > MAX_LABEL_LENGTH:
        raise ConfigError(
            f"label {label[:40]!r}… is {len(label)} characters long; labels are at most "
            f"{MAX_LABEL_LENGTH} characters; use a shorter label"
        )


@dataclass(frozen=True)
class Provenance:
    """Where a photo came from and the label it was found under."""

    label: str
    source_url: str | None = None
    source_path: str | None = None
    listing_id: int | None = None
    run_id: int | None = None
    stage: str = "import"

    def __post_init__(self) -> None:
        check_label(self.label)

    @property
    def target(self) -> str:
        """Return the URL or path that failures are recorded against."""
        return self.source_url or self.source_path or "<bytes>"

    def printable(self) -> Provenance:
        """Return a copy whose URL and path can be stored (see :func:`printable`)."""
        return dataclasses.replace(
            self,
            source_url=None if self.source_url is None else printable(self.source_url),
            source_path=None if self.source_path is None else printable(self.source_path),
        )


@dataclass(frozen=True)
class IntakeResult:
    """What happened to one photo: ``stored`` (new), ``known`` (same bytes seen before) or
    ``rejected`` (with ``reason``)."""

    outcome: Literal["stored", "known", "rejected"]
    image_id: int | None = None
    sha256: str | None = None
    reason: str | None = None
    detail: str = ""


def _add_source(conn: Connection, image_id: int, provenance: Provenance) -> None:
    exists = conn.execute(
        sa.select(t.image_sources.c.id).where(
            t.image_sources.c.image_id == image_id,
            t.image_sources.c.source_url.is_not_distinct_from(provenance.source_url),
            t.image_sources.c.source_path.is_not_distinct_from(provenance.source_path),
        )
    ).first()
    if exists is None:
        conn.execute(
            sa.insert(t.image_sources).values(
                image_id=image_id,
                listing_id=provenance.listing_id,
                source_url=provenance.source_url,
                source_path=provenance.source_path,
                label=provenance.label,
                run_id=provenance.run_id,
            )
        )


def _reject(catalog: Catalog, provenance: Provenance, reason: str, detail: str) -> IntakeResult:
    with catalog.atomic() as conn:
        return _record_rejection(conn, provenance, reason, detail)


def _record_rejection(
    conn: Connection, provenance: Provenance, reason: str, detail: str
) -> IntakeResult:
    record_failure(
        conn,
        stage=provenance.stage,
        target=provenance.target,
        reason=reason,
        detail=detail,
        run_id=provenance.run_id,
    )
    return IntakeResult("rejected", reason=reason, detail=detail)


@dataclass
class PreparedPhoto:
    """One photo on its way in: validated and named, or rejected (``reason``/``detail``)."""

    provenance: Provenance
    label: str = ""
    image: NormalizedImage | None = None
    digest: str = ""
    relative: str = ""
    reason: str | None = None
    detail: str = ""
    # This call created the store file (so it may remove it if the row cannot be written).
    written: bool = False


def _prepare(data: bytes, provenance: Provenance, limits: IntakeLimits) -> PreparedPhoto:
    """Return ``data`` validated (decoded once) and hashed, or rejected; never raises."""
    photo = PreparedPhoto(provenance)
    try:
        photo.label = provenance.label.strip()
        if not photo.label:
            raise IntakeRejected("no_label", "a photo needs the label it was found under")
        photo.label.encode("utf-8")
        photo.image = validate_and_normalize(data, limits)
        photo.digest = sha256_of(photo.image.data)
    except IntakeRejected as rejected:
        photo.image, photo.reason, photo.detail = None, rejected.reason, rejected.detail
    except Exception as exc:  # noqa: BLE001 - a hostile file must not stop the run
        photo.image, photo.reason, photo.detail = None, "internal_error", describe_exception(exc)
    return photo


def _write_files(store: ImageStore, photos: Sequence[PreparedPhoto]) -> None:
    """Write the new files of ``photos`` and flush them and their folders to disk; a photo
    whose file cannot be written becomes an ``internal_error``."""
    for photo in photos:
        if photo.image is None:
            continue
        try:
            photo.relative = store.relative_path(photo.digest, EXTENSIONS[photo.image.format])
            photo.written = store.write(photo.image.data, photo.relative)
        except Exception as exc:  # noqa: BLE001 - recorded as this photo's failure
            photo.image, photo.reason, photo.detail = (
                None,
                "internal_error",
                describe_exception(exc),
            )
    try:
        store.sync(photo.relative for photo in photos if photo.image is not None)
    except OSError as exc:
        # Names that may not survive a power cut get no rows: these photos fail this time.
        detail = describe_exception(exc)
        for photo in photos:
            if photo.image is not None:
                if photo.written:
                    store.discard(photo.relative)
                photo.image, photo.reason, photo.detail = None, "internal_error", detail


def _image_row(photo: PreparedPhoto) -> dict[str, object]:
    """Return the ``images`` row of an accepted photo."""
    assert photo.image is not None
    image = photo.image
    return {
        "sha256": photo.digest,
        "store_path": photo.relative,
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "bytes": len(image.data),
        "label_scraped": photo.label,
        "label": photo.label,
        "status": "active",
        "listing_id": photo.provenance.listing_id,
        "normalized": "; ".join(image.changes) or None,
    }


def _record(conn: Connection, photo: PreparedPhoto) -> IntakeResult:
    """Write ``photo``'s rows in the open transaction ``conn`` and return its result."""
    if photo.image is None:
        return _record_rejection(conn, photo.provenance, photo.reason or "?", photo.detail)
    existing = conn.execute(
        sa.select(t.images.c.id).where(t.images.c.sha256 == photo.digest)
    ).scalar_one_or_none()
    if existing is not None:
        _add_source(conn, existing, photo.provenance)
        return IntakeResult("known", image_id=existing, sha256=photo.digest)
    image_id = conn.execute(sa.insert(t.images).values(**_image_row(photo))).inserted_primary_key[0]
    _add_source(conn, int(image_id), photo.provenance)
    return IntakeResult("stored", image_id=int(image_id), sha256=photo.digest)


def _record_batch(conn: Connection, photos: Sequence[PreparedPhoto]) -> list[IntakeResult]:
    """Write the rows of every photo in the open transaction ``conn`` (new images in one
    multi-row insert) and return their results, in order: the same rows and results as
    :func:`_record` one photo after another."""
    accepted = [p for p in photos if p.image is not None]
    known: dict[str, int] = {}
    digests = sorted({p.digest for p in accepted})
    for start in range(0, len(digests), SQL_CHUNK):
        rows = conn.execute(
            sa.select(t.images.c.sha256, t.images.c.id).where(
                t.images.c.sha256.in_(digests[start : start + SQL_CHUNK])
            )
        )
        known.update({sha: int(image_id) for sha, image_id in rows})
    new: dict[str, PreparedPhoto] = {}
    for photo in accepted:
        if photo.digest not in known:
            new.setdefault(photo.digest, photo)
    created: dict[str, int] = {}
    if new:
        inserted = conn.execute(
            sa.insert(t.images).returning(
                t.images.c.sha256, t.images.c.id, sort_by_parameter_order=True
            ),
            [_image_row(photo) for photo in new.values()],
        )
        created = {sha: int(image_id) for sha, image_id in inserted}
    results: list[IntakeResult] = []
    sources: list[dict[str, object]] = []
    origins: set[tuple[int, str | None, str | None]] = set()
    for photo in photos:
        if photo.image is None:
            results.append(
                _record_rejection(conn, photo.provenance, photo.reason or "?", photo.detail)
            )
            continue
        prov = photo.provenance
        if photo.digest in known:
            _add_source(conn, known[photo.digest], prov)
            results.append(IntakeResult("known", image_id=known[photo.digest], sha256=photo.digest))
            continue
        image_id = created[photo.digest]
        first = new[photo.digest] is photo
        origin = (image_id, prov.source_url, prov.source_path)
        if origin not in origins:
            origins.add(origin)
            sources.append(
                {
                    "image_id": image_id,
                    "listing_id": prov.listing_id,
                    "source_url": prov.source_url,
                    "source_path": prov.source_path,
                    "label": prov.label,
                    "run_id": prov.run_id,
                }
            )
        results.append(
            IntakeResult("stored" if first else "known", image_id=image_id, sha256=photo.digest)
        )
    if sources:
        conn.execute(sa.insert(t.image_sources), sources)
    return results


def _record_alone(catalog: Catalog, store: ImageStore, photo: PreparedPhoto) -> IntakeResult:
    """Write ``photo``'s rows in a transaction of its own; on an error remove the file this
    call wrote (when no row holds it) and record the error as the photo's failure."""
    try:
        with catalog.atomic(durable=True) as conn:
            return _record(conn, photo)
    except Exception as exc:  # noqa: BLE001 - recorded as this photo's failure
        if photo.written:
            with catalog.reading() as conn:
                has_row = conn.execute(
                    sa.select(t.images.c.id).where(t.images.c.sha256 == photo.digest)
                ).first()
            if has_row is None:
                store.discard(photo.relative)
        return _reject(catalog, photo.provenance, "internal_error", describe_exception(exc))


def take_in(
    catalog: Catalog, store: ImageStore, photos: Sequence[PreparedPhoto]
) -> list[IntakeResult]:
    """Store the files of ``photos``, then commit all their rows in one durable transaction.

    If that transaction fails, each photo is retried in a transaction of its own, so only the
    photo at fault ends as ``internal_error``.
    """
    _write_files(store, photos)
    try:
        with catalog.atomic(durable=True) as conn:
            return _record_batch(conn, photos)
    except Exception:  # noqa: BLE001 - retried one by one below
        return [_record_alone(catalog, store, photo) for photo in photos]


def intake_image(
    catalog: Catalog,
    store: ImageStore,
    data: bytes,
    provenance: Provenance,
    limits: IntakeLimits | None = None,
) -> IntakeResult:
    """Validate ``data`` and store it with its provenance, or record why not.

    Returns an :class:`IntakeResult`; any exception while taking the photo in becomes its
    failure row (``internal_error`` with the exception text), so one hostile file never stops
    a scrape or an import. Only a catalog that cannot record the failure raises. The file is
    written and flushed before the catalog row (see the module's durability order), so a crash
    in between leaves a file that a rerun adopts, never a row without a file; an error in
    between removes the file again.
    """
    photo = _prepare(data, provenance.printable(), limits or IntakeLimits())
    return take_in(catalog, store, [photo])[0]


def _read_local(path: str, limits: IntakeLimits) -> bytes:
    """Return the bytes of the local file ``path`` (at most the byte limit + 1).

    Raises :class:`IntakeRejected`: ``not_a_file`` for anything but a regular file (a FIFO would
    block the read for ever), ``unreadable`` when it cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise IntakeRejected("not_a_file", "not a regular file")
            return handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise IntakeRejected("unreadable", printable(str(exc))) from exc


def prepare_file(path: str, provenance: Provenance, limits: IntakeLimits) -> PreparedPhoto:
    """Return the file at ``path`` read and validated for :func:`take_in` (rejected photos
    carry their reason); touches neither the store nor the catalog, so it runs on any worker
    that sees ``path``."""
    try:
        data = _read_local(path, limits)
    except IntakeRejected as rejected:
        # Failures of the file itself are recorded against its path when no other target is
        # given.
        if provenance.source_path is None and provenance.source_url is None:
            provenance = dataclasses.replace(provenance, source_path=path)
        return PreparedPhoto(provenance.printable(), reason=rejected.reason, detail=rejected.detail)
    return _prepare(data, provenance.printable(), limits)


def intake_files(
    catalog: Catalog,
    store: ImageStore,
    files: Sequence[tuple[str, Provenance]],
    limits: IntakeLimits | None = None,
) -> list[IntakeResult]:
    """Take in a batch of local files (``(path, provenance)`` pairs); return one
    :class:`IntakeResult` per file, in order.

    Each file is read and decoded once; the new store files are flushed, then their folders,
    then every row of the batch is committed in one durable transaction. An interrupted batch
    leaves no rows (its files are adopted when it is taken in again). Failures are as in
    :func:`intake_file`.
    """
    limits = limits or IntakeLimits()
    return take_in(catalog, store, [prepare_file(path, prov, limits) for path, prov in files])


def intake_file(
    catalog: Catalog,
    store: ImageStore,
    path: str,
    provenance: Provenance,
    limits: IntakeLimits | None = None,
) -> IntakeResult:
    """Read a local file and take it in as :func:`intake_image` does; return its
    :class:`IntakeResult`.

    Unreadable files (``unreadable``) and anything but a regular file (``not_a_file``: a FIFO
    would block the read for ever) are recorded as failures against ``provenance.target``.
    """
    return intake_files(catalog, store, [(path, provenance)], limits)[0]
