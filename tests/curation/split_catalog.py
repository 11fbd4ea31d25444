"""A catalog for the split tests, filled the way the pipeline stages fill it: photos with
listings and stored pHashes (:class:`Catalogued`), and readers of a split by subset."""

from __future__ import annotations

import io
from collections import defaultdict

import numpy as np
import sqlalchemy as sa
from PIL import Image

from curation.splits.stored import load_split
from pipeline import schema as t
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace

LABELS = ("swift", "wagonr")


def photo_bytes(rng: np.random.Generator) -> bytes:
    """Return a 40×40 JPEG of a random colour with noise (distinct bytes per call)."""
    base = rng.integers(0, 256, size=3)
    pixels = np.clip(base + rng.integers(-30, 31, size=(40, 40, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


class Catalogued:
    """Puts photos, listings and hashes into a workspace the way the pipeline stages do."""

    def __init__(self, ws: Workspace, seed: int = 0) -> None:
        self.ws = ws
        self.rng = np.random.default_rng(seed)
        self.listings = 0

    def listing(self, label: str) -> int:
        """Add a listing of ``label`` and return its id."""
        self.listings += 1
        with self.ws.catalog.atomic() as conn:
            return int(
                conn.execute(
                    sa.insert(t.listings).values(
                        site="demo", url=f"http://127.0.0.1/l/{self.listings}", label=label
                    )
                ).inserted_primary_key[0]
            )

    def photo(self, label: str, listing_id: int | None = None, phash: int | None = None) -> int:
        """Take in a new photo of ``label`` (in ``listing_id``) with a stored pHash (random unless
        given); return its image id."""
        result = intake_image(
            self.ws.catalog,
            self.ws.store,
            photo_bytes(self.rng),
            Provenance(label=label, listing_id=listing_id, source_path=f"p{self.rng.random()}"),
        )
        assert result.outcome == "stored"
        value = phash if phash is not None else int(self.rng.integers(0, 2**63)) * 2 + 1
        self.set_phash(result.image_id, value)
        return int(result.image_id)

    def set_phash(self, image_id: int, value: int) -> None:
        """Replace the stored pHash of ``image_id`` with ``value``."""
        with self.ws.catalog.atomic() as conn:
            conn.execute(sa.delete(t.image_hashes).where(t.image_hashes.c.image_id == image_id))
            conn.execute(
                sa.insert(t.image_hashes).values(
                    image_id=image_id, kind="phash", value=f"{value:016x}"
                )
            )

    def populate(self, label: str, *, singles: int = 10, pairs: int = 4, triples: int = 2) -> None:
        """Add listings of 3 and 2 photos and single photos without a listing."""
        for size, count in ((3, triples), (2, pairs)):
            for _ in range(count):
                listing_id = self.listing(label)
                for _ in range(size):
                    self.photo(label, listing_id)
        for _ in range(singles):
            self.photo(label)


def by_subset(assignments: list) -> dict[str, dict[str, int]]:
    """Return ``{subset: {label: photos}}`` of split assignments."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for a in assignments:
        counts[a.subset][a.label] = counts[a.subset].get(a.label, 0) + 1
    return dict(counts)


def sha_by_subset(ws: Workspace, name: str = "default") -> dict[str, list[str]]:
    """Return ``{subset: sorted sha256s}`` of the latest version of split ``name``."""
    subsets: dict[str, list[str]] = defaultdict(list)
    for a in load_split(ws, name):
        subsets[a.subset].append(a.sha256)
    return {subset: sorted(shas) for subset, shas in subsets.items()}
