"""What a demo site contains: :class:`SiteConfig` and the car models it knows how to draw."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from pipeline.errors import ConfigError
from scrapers.demo_site.cars import BODY_STYLES
from scrapers.demo_site.faults import FaultConfig
from scrapers.demo_site.photos import MAX_SIZE

# Bump when drawing or planning changes, so cached sites are regenerated.
GENERATOR_VERSION = 2

MODEL_NAMES: dict[str, tuple[str, tuple[str, ...], int]] = {
    # model: (display name, trims, new price in rupees)
    "swift": ("Maruti Suzuki Swift", ("LXi", "VXi", "ZXi", "ZXi+"), 700_000),
    "wagonr": ("Maruti Suzuki Wagon R", ("LXi", "VXi", "ZXi", "Tour"), 550_000),
    "sedan": ("Honda City", ("S", "V", "VX", "ZX"), 1_200_000),
    "suv": ("Mahindra Scorpio", ("S3", "S5", "S7", "S11"), 1_500_000),
    "pickup": ("Tata Yodha", ("Single Cab", "Crew Cab", "4x4"), 900_000),
}


@dataclass(frozen=True)
class SiteConfig:
    """The content of a demo marketplace; the same config always gives the same site.

    ``image_size`` is the (smallest, largest) photo size; each original photo gets a size
    between them. ``faults`` only changes how the site is served, never what is generated.
    """

    seed: int = 0
    models: tuple[str, ...] = ("swift", "wagonr")
    listings_per_model: int = 440
    photos_per_listing: tuple[int, int] = (3, 8)
    wrong_share: float = 0.10
    repost_share: float = 0.04
    image_size: tuple[tuple[int, int], tuple[int, int]] = ((640, 480), (1280, 960))
    page_size: int = 20
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        unknown = [m for m in self.models if m not in BODY_STYLES]
        if not self.models or unknown:
            raise ConfigError(
                f"unknown car model(s) {unknown or '(none given)'}; choose from "
                + ", ".join(BODY_STYLES)
            )
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"car models repeat in {self.models}; list each model once")
        lo, hi = self.photos_per_listing
        if self.listings_per_model < 1 or not 1 <= lo <= hi:
            raise ConfigError(
                "listings_per_model must be >= 1 and photos_per_listing a (min, max) with "
                f"1 <= min <= max; got {self.listings_per_model} and {self.photos_per_listing}"
            )
        for name in ("wrong_share", "repost_share"):
            if not 0.0 <= getattr(self, name) < 0.5:
                raise ConfigError(f"{name} must be in [0, 0.5); got {getattr(self, name)}")
        (w0, h0), (w1, h1) = self.image_size
        if not (32 <= w0 <= w1 <= MAX_SIZE[0] and 32 <= h0 <= h1 <= MAX_SIZE[1]):
            raise ConfigError(
                f"image_size {self.image_size} must be ((min_w, min_h), (max_w, max_h)) "
                f"between 32x32 and {MAX_SIZE[0]}x{MAX_SIZE[1]}"
            )
        if self.page_size < 1:
            raise ConfigError(f"page_size must be >= 1; got {self.page_size}")

    @classmethod
    def tiny(cls, seed: int = 0, **overrides: object) -> SiteConfig:
        """Return a site small enough for unit tests: 2 models × 5 listings of 320×240 photos."""
        base = cls(
            seed=seed,
            listings_per_model=5,
            photos_per_listing=(2, 4),
            wrong_share=0.2,
            repost_share=0.2,
            image_size=((320, 240), (320, 240)),
            page_size=2,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    def content_key(self) -> str:
        """Return a short hash of everything that decides the generated files (not faults)."""
        data = asdict(self)
        data.pop("faults")
        data["version"] = GENERATOR_VERSION
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
