"""Pillow's half of intake: check that bytes are a whole, sane photo and normalize the awkward
cases (transparency, 16-bit, animations, EXIF rotation, odd formats) into bytes fit to store.

Touches neither the store nor the catalog; :mod:`pipeline.intake` calls it for every photo.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from pipeline.errors import IntakeRejected
from pipeline.settings import IntakeLimits

PASSTHROUGH_FORMATS = {"JPEG", "PNG", "WEBP"}
# PPM covers .ppm, .pgm and .pbm (Pillow names them all PPM).
ACCEPTED_FORMATS = PASSTHROUGH_FORMATS | {"GIF", "BMP", "TIFF", "MPO", "PPM"}
PASSTHROUGH_MODES = {"RGB", "L"}
# Converting these to RGB changes the colour space, so the source's ICC profile no longer applies.
COLOUR_SPACE_MODES = {"CMYK", "LAB", "YCbCr", "HSV"}
# What Pillow raises for a damaged file; anything else becomes ``internal_error``.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


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
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        # min/max would be NaN and every pixel would come out black.
        raise IntakeRejected(
            "non_finite_pixels", f"{bad} of {array.size} pixels are NaN or infinite"
        )
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
    if mode == "1":
        changes.append("converted 1-bit to L")
        return image.convert("L")
    changes.append(f"converted {mode} to RGB")
    return image.convert("RGB")


def validate_and_normalize(data: bytes, limits: IntakeLimits) -> NormalizedImage:
    """Check that ``data`` is a whole, sane image and return it ready for storage.

    Raises :class:`IntakeRejected` with a reason code: ``empty``, ``too_large``,
    ``not_an_image``, ``unsupported_format``, ``too_many_pixels``, ``too_small``,
    ``truncated_or_corrupt`` or ``non_finite_pixels``. Other exceptions (Pillow failing in an
    unexpected way on a hostile file) propagate; :func:`intake_image` records them.
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
        except DECODE_ERRORS as exc:
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
            if type(image).verify is not ImageFile.ImageFile.verify:
                # A real check (PNG chunk CRCs, …) that consumes the file: open it again after.
                _open(data).verify()
                image = _open(data)
            image.load()
            # Counting frames reads every frame header: damaged later frames fail here.
            return _normalize(data, image, fmt)
        except (*DECODE_ERRORS, Image.DecompressionBombError) as exc:
            raise IntakeRejected("truncated_or_corrupt", str(exc) or type(exc).__name__) from exc


def _png_bit_depth(data: bytes) -> int:
    """Return the bit depth a PNG declares in its header (8 when it cannot be read)."""
    return data[24] if len(data) > 24 and data[12:16] == b"IHDR" else 8


def _normalize(data: bytes, image: Image.Image, fmt: str) -> NormalizedImage:
    changes: list[str] = []
    source_mode = image.mode
    source_icc = image.info.get("icc_profile")
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
        image = image.copy()
        changes.append("kept the first frame of an animation")
    orientation = image.getexif().get(0x0112, 1)
    if orientation not in (1, None):
        image = ImageOps.exif_transpose(image)
        changes.append(f"applied EXIF orientation {orientation}")
    if fmt == "PNG" and image.mode == "RGB" and _png_bit_depth(data) == 16:
        # Pillow already decoded the high byte of each sample; re-encoding stores that.
        changes.append("reduced 16-bit RGB to 8 bits")
    image = _normalize_mode(image, changes)
    if fmt in PASSTHROUGH_FORMATS and not changes:
        return NormalizedImage(data, fmt, image.width, image.height)
    # Only what is passed here is written (no EXIF, no timestamps, no ICC profile made up by a
    # conversion), so the same input always gives the same bytes.
    icc = None if source_mode in COLOUR_SPACE_MODES else source_icc
    out = io.BytesIO()
    target = "JPEG" if fmt in {"JPEG", "MPO"} else "PNG"
    if target == "JPEG":
        image.save(out, "JPEG", quality=95, icc_profile=icc)
    else:
        image.save(out, "PNG", optimize=False, icc_profile=icc)
    if fmt not in PASSTHROUGH_FORMATS:
        changes.append(f"re-encoded {fmt} as {target}")
    return NormalizedImage(out.getvalue(), target, image.width, image.height, changes)
