"""Fixtures shared by every test area. Append new fixtures; keep each one small."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline import process_env
from pipeline.workspace import Workspace

if TYPE_CHECKING:
    from scrapers.demo_site import DemoSite, FaultConfig, GeneratedSite, SiteConfig

# The test process is an entry point too: quiet, with carscout's Prefect settings, before any
# test imports TensorFlow or Prefect (neither module above does).
process_env.configure(verbose=False)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """Return a fresh workspace (real SQLite catalog and image store) under ``tmp_path``."""
    with Workspace.open(home=tmp_path / "home") as ws:
        yield ws


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the developer's ./data and ~/.cache."""
    monkeypatch.delenv("CARSCOUT_HOME", raising=False)
    monkeypatch.delenv("CARSCOUT_CATALOG_URL", raising=False)
    monkeypatch.delenv("CARSCOUT_CLUSTER", raising=False)
    # No test may download ImageNet weights (tests that do serve them on 127.0.0.1 themselves).
    monkeypatch.setenv("CARSCOUT_WEIGHTS_BASE_URL", "off")


@pytest.fixture(scope="session")
def demo_site_generated(tmp_path_factory: pytest.TempPathFactory) -> GeneratedSite:
    """Return a tiny seeded demo site (2 models × 5 listings, 320×240 photos), drawn once."""
    from scrapers.demo_site import SiteConfig, generate_site

    return generate_site(SiteConfig.tiny(seed=7), tmp_path_factory.mktemp("demo-site-cache"))


@pytest.fixture
def demo_site(demo_site_generated: GeneratedSite) -> Iterator[DemoSite]:
    """Serve the tiny demo site on a free 127.0.0.1 port (no faults); stop it afterwards."""
    from scrapers.demo_site import DemoSite  # noqa: F811 - runtime import

    with DemoSite(demo_site_generated) as site:
        yield site


@pytest.fixture
def demo_site_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., DemoSite]]:
    """Return ``make(config=None, faults=None) -> DemoSite`` that starts sites and stops them.

    ``config`` defaults to ``SiteConfig.tiny()``; sites are cached for the whole session.
    """
    from scrapers.demo_site import DemoSite, SiteConfig  # noqa: F811 - runtime import

    cache = tmp_path_factory.getbasetemp() / "demo-site-factory-cache"
    started: list[DemoSite] = []

    def make(config: SiteConfig | None = None, faults: FaultConfig | None = None) -> DemoSite:
        site = DemoSite(config or SiteConfig.tiny(), faults=faults, cache_dir=cache)
        started.append(site)
        site.start()
        return site

    yield make
    for site in started:
        site.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of a new, empty catalog: a SQLite file, or a PostgreSQL database (a test
    using it runs once on each; its module imports ``postgres_server`` from tests.postgres)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    return request.getfixturevalue("postgres_server").fresh_url()
