"""A workspace bundles what every stage needs: settings, the catalog and the image store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.catalog import Catalog
from pipeline.settings import Settings, load_settings
from pipeline.store import ImageStore


@dataclass
class Workspace:
    """An open data home. Use as a context manager, or call :meth:`close`."""

    settings: Settings
    catalog: Catalog
    store: ImageStore

    @classmethod
    def open(cls, settings: Settings | None = None, *, home: Path | None = None) -> Workspace:
        """Return an open workspace, creating the data home and catalog if missing.

        Stale temporary files left in the store by a killed process are removed here.
        """
        settings = settings or load_settings(home=home)
        if home is not None and settings.home != home.resolve():
            settings = settings.with_home(home.resolve())
        settings.home.mkdir(parents=True, exist_ok=True)
        store = ImageStore(settings.store_dir)
        store.remove_stale_temporaries()
        return cls(settings=settings, catalog=Catalog(settings.catalog_url), store=store)

    def close(self) -> None:
        """Release the catalog's connections."""
        self.catalog.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
