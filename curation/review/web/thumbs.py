"""Photos for the review page by image id only: looked up in the catalog, read from the store,
shrunk once and cached on disk under their content hash (a path never comes from a request)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from PIL import Image, ImageOps

from pipeline import schema as t
from pipeline.catalog import Catalog
from pipeline.errors import CarscoutError
from pipeline.store import ImageStore

SIZES = {"thumb": 480, "full": 1600}


class NoSuchImage(CarscoutError):
    """An image id that is not in the catalog, or whose file is gone from the store."""


class ThumbCache:
    """JPEG renditions of catalog photos, ``SIZES`` pixels on the long side, cached in ``root``."""

    def __init__(self, catalog: Catalog, store: ImageStore, root: Path) -> None:
        self.catalog = catalog
        self.store = store
        self.root = root

    def path_for(self, image_id: int, size: str = "thumb") -> Path:
        """Return the cached JPEG of image ``image_id`` at ``size``, making it on first use.

        Raises :class:`NoSuchImage` for an id outside the catalog or a missing store file, and
        :class:`ValueError` for an unknown size.
        """
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; use one of {', '.join(SIZES)}")
        with self.catalog.reading() as conn:
            row = conn.execute(
                sa.select(t.images.c.sha256, t.images.c.store_path).where(t.images.c.id == image_id)
            ).first()
        if row is None:
            raise NoSuchImage(f"no image {image_id} in the catalog")
        cached = self.root / size / f"{row.sha256}.jpg"
        if cached.is_file():
            return cached
        source = self.store.path(row.store_path)
        if not source.is_file():
            raise NoSuchImage(f"image {image_id}'s file is missing from the store")
        side = SIZES[size]
        with Image.open(source) as img:
            img.draft("RGB", (side, side))
            rgb = ImageOps.exif_transpose(img.convert("RGB"))
        rgb.thumbnail((side, side))
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Written under a temporary name and renamed: two requests for one photo never serve
        # a half-written file.
        handle, temporary = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                rgb.save(out, "JPEG", quality=85)
            os.replace(temporary, cached)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return cached
