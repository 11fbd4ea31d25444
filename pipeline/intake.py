"""Safe image intake: validate bytes with Pillow, normalize the awkward cases, store, catalog.

:func:`intake_image` is the one door every photo comes in by (scraper, ``carscout import``,
tests). It either stores the image and its provenance, or records a failure with a short reason
code; in both cases it writes in one transaction and never touches other rows.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Literal

import sqlalchemy as sa
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.engine import Connection

from pipeline import schema as t
from pipeline.catalog import Catalog, record_failure
from pipeline.errors import IntakeRejected
from pipeline.settings import IntakeLimits
from pipeline.store import EXTENSIONS, ImageStore

PASSTHROUGH_FORMATS = {"JPEG", "PNG", "WEBP"}
ACCEPTED_FORMATS = PASSTHROUGH_FORMATS | {"GIF", "BMP", "TIFF", "MPO"}
PASSTHROUGH_MODES = {"RGB", "L"}


@dataclass(frozen=True)
class Provenance:
    """Where a photo came from and the label it was found under."""

    label: str
    source_url: str | None = None
    source_path: str | None = None
    listing_id: int | None = None
    run_id: int | None = None
    stage: str = "import"

    @property
    def target(self) -> str:
        """Return the URL or path that failures are recorded against."""
        return self.source_url or self.source_path or "<bytes>"


@dataclass(frozen=True)
class IntakeResult:
    """What happened to one photo: ``stored`` (new), ``known`` (same bytes seen before) or
    ``rejected`` (with ``reason``)."""

    outcome: Literal["stored", "known", "rejected"]
    image_id: int | None = None
    sha256: str | None = None
    reason: str | None = None
    detail: str = ""


@dataclass
class NormalizedImage:
    """Bytes ready for the store plus what we know about them."""

    data: bytes
    format: str
    width: int
    height: int
    changes: list[str] = field(default_factory=list)


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _flatten_alpha(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    import numpy as np

    array = np.asarray(image, dtype=np.float64)
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) * (255.0 / (high - low)) if high > low else array * 0
    return Image.fromarray(scaled.astype("uint8"))


def _normalize_mode(image: Image.Image, changes: list[str]) -> Image.Image:
    mode = image.mode
    if mode in PASSTHROUGH_MODES:
        return image
    if mode in {"RGBA", "LA", "PA"} or (mode == "P" and "transparency" in image.info):
        changes.append(f"flattened {mode} transparency onto white")
        return _flatten_alpha(image)
    if mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        changes.append(f"reduced {mode} to 8-bit grey")
        return _to_8bit(image)
    changes.append(f"converted {mode} to RGB")
    return image.convert("RGB")


def validate_and_normalize(data: bytes, limits: IntakeLimits) -> NormalizedImage:
    """Check that ``data`` is a whole, sane image and return it ready for storage.

    Raises :class:`IntakeRejected` with a reason code: ``empty``, ``too_large``,
    ``not_an_image``, ``unsupported_format``, ``too_many_pixels``, ``too_small`` or
    ``truncated_or_corrupt``.
    """
    if not data:
        raise IntakeRejected("empty", "no bytes")
    if len(data) > limits.max_bytes:
        raise IntakeRejected("too_large", f"{len(data)} bytes > limit {limits.max_bytes}")
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<svg", b"{")):
        raise IntakeRejected("not_an_image", "looks like HTML/XML/JSON text")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _open(data)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise IntakeRejected("too_many_pixels", str(exc)) from exc
        except UnidentifiedImageError as exc:
            raise IntakeRejected("not_an_image", "Pillow cannot identify it") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise IntakeRejected("truncated_or_corrupt", str(exc)) from exc
        fmt = image.format or "?"
        if fmt not in ACCEPTED_FORMATS:
            raise IntakeRejected("unsupported_format", f"{fmt} is not a photo format we keep")
        width, height = image.size
        if width * height > limits.max_pixels:
            raise IntakeRejected(
                "too_many_pixels", f"{width}x{height} > {limits.max_pixels} pixel limit"
            )
        if min(width, height) < limits.min_side:
            raise IntakeRejected("too_small", f"{width}x{height}, smaller than {limits.min_side}")
        try:
            _open(data).verify()
            image = _open(data)
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise IntakeRejected("truncated_or_corrupt", str(exc) or type(exc).__name__) from exc
    return _normalize(data, image, fmt)


def _normalize(data: bytes, image: Image.Image, fmt: str) -> NormalizedImage:
    changes: list[str] = []
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
        image = image.copy()
        changes.append("kept the first frame of an animation")
    orientation = image.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        image = ImageOps.exif_transpose(image)
        changes.append(f"applied EXIF orientation {orientation}")
    image = _normalize_mode(image, changes)
    if fmt in PASSTHROUGH_FORMATS and not changes:
        return NormalizedImage(data, fmt, image.width, image.height)
    out = io.BytesIO()
    target = "JPEG" if fmt in {"JPEG", "MPO"} else "PNG"
    if target == "JPEG":
        image.save(out, "JPEG", quality=95)
    else:
        image.save(out, "PNG", optimize=False)
    if fmt not in PASSTHROUGH_FORMATS:
        changes.append(f"re-encoded {fmt} as {target}")
    return NormalizedImage(out.getvalue(), target, image.width, image.height, changes)


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


def intake_image(
    catalog: Catalog,
    store: ImageStore,
    data: bytes,
    provenance: Provenance,
    limits: IntakeLimits | None = None,
) -> IntakeResult:
    """Validate ``data`` and store it with its provenance, or record why not.

    Returns an :class:`IntakeResult`. The file is written (atomically) before the catalog row,
    so a crash in between leaves a file that a rerun adopts, never a row without a file.
    """
    limits = limits or IntakeLimits()
    label = provenance.label.strip()
    try:
        if not label:
            raise IntakeRejected("no_label", "a photo needs the label it was found under")
        image = validate_and_normalize(data, limits)
    except IntakeRejected as rejected:
        with catalog.atomic() as conn:
            record_failure(
                conn,
                stage=provenance.stage,
                target=provenance.target,
                reason=rejected.reason,
                detail=rejected.detail,
                run_id=provenance.run_id,
            )
        return IntakeResult("rejected", reason=rejected.reason, detail=rejected.detail)

    digest, relative = store.put(image.data, EXTENSIONS[image.format])
    with catalog.atomic() as conn:
        existing = conn.execute(
            sa.select(t.images.c.id).where(t.images.c.sha256 == digest)
        ).scalar_one_or_none()
        if existing is not None:
            _add_source(conn, existing, provenance)
            return IntakeResult("known", image_id=existing, sha256=digest)
        image_id = conn.execute(
            sa.insert(t.images).values(
                sha256=digest,
                store_path=relative,
                width=image.width,
                height=image.height,
                format=image.format,
                bytes=len(image.data),
                label_scraped=label,
                label=label,
                status="active",
                listing_id=provenance.listing_id,
                normalized="; ".join(image.changes) or None,
            )
        ).inserted_primary_key[0]
        _add_source(conn, int(image_id), provenance)
    return IntakeResult("stored", image_id=int(image_id), sha256=digest)


def intake_file(
    catalog: Catalog,
    store: ImageStore,
    path: str,
    provenance: Provenance,
    limits: IntakeLimits | None = None,
) -> IntakeResult:
    """Read a local file and pass it to :func:`intake_image`; unreadable files are recorded."""
    limits = limits or IntakeLimits()
    try:
        with open(path, "rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        with catalog.atomic() as conn:
            record_failure(
                conn, stage=provenance.stage, target=path, reason="unreadable", detail=str(exc)
            )
        return IntakeResult("rejected", reason="unreadable", detail=str(exc))
    return intake_image(catalog, store, data, provenance, limits)
