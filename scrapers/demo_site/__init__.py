"""A local used-car marketplace with generated photos whose true content is known.

``generate_site(SiteConfig(...))`` draws (or reads from the cache) the listings and photos and
writes ``ground_truth.csv``; ``DemoSite`` serves them on 127.0.0.1 with optional faults.
"""

from scrapers.demo_site.config import SiteConfig
from scrapers.demo_site.faults import FaultConfig
from scrapers.demo_site.generator import (
    GeneratedSite,
    Listing,
    PhotoFile,
    default_cache_dir,
    generate_site,
    plan_site,
)
from scrapers.demo_site.server import DemoSite

__all__ = [
    "DemoSite",
    "FaultConfig",
    "GeneratedSite",
    "Listing",
    "PhotoFile",
    "SiteConfig",
    "default_cache_dir",
    "generate_site",
    "plan_site",
]
