"""A workspace bundles what every stage needs: settings, the catalog and the image store."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from pipeline.catalog import Catalog
from pipeline.errors import CatalogError, ConfigError
from pipeline.settings import Settings, load_settings
from pipeline.store import ImageStore

CATALOG_FILE = "catalog.sqlite"


@dataclass
class Workspace:
    """An open data home. Use as a context manager, or call :meth:`close`."""

    settings: Settings
    catalog: Catalog
    store: ImageStore

    @classmethod
    def open(
        cls, settings: Settings | None = None, *, home: Path | None = None, create: bool = True
    ) -> Workspace:
        """Return an open workspace, creating the data home and catalog if missing.

        With ``create`` False a missing SQLite catalog is a :class:`CatalogError` ("no catalog
        at X; did you mean …?") instead, so a mistyped ``--home`` does not start an empty one.
        A home that cannot be created or written is a :class:`ConfigError`. Stale temporary
        files left in the store by a killed process are removed here.
        """
        settings = settings or load_settings(home=home)
        if home is not None and settings.home != home.resolve():
            settings = settings.with_home(home.resolve())
        _check_home_is_a_folder(settings.home)
        if not create:
            require_catalog(settings)
        try:
            settings.home.mkdir(parents=True, exist_ok=True)
            store = ImageStore(settings.store_dir)
            store.remove_stale_temporaries()
            catalog = Catalog(settings.catalog_url)
        except OSError as exc:
            raise ConfigError(
                f"cannot use {settings.home} as the data home ({exc.strerror or exc}); "
                "pass --home with a folder you can write to"
            ) from exc
        return cls(settings=settings, catalog=catalog, store=store)

    def close(self) -> None:
        """Release the catalog's connections."""
        self.catalog.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _check_home_is_a_folder(home: Path) -> None:
    """Raise :class:`ConfigError` when ``home`` or the nearest existing folder above it is a
    file (``--home notes.txt``, ``--home notes.txt/x``)."""
    for path in (home, *home.parents):
        if path.exists():
            if not path.is_dir():
                raise ConfigError(
                    f"cannot use {home} as the data home: {path} is a file, not a folder; "
                    "pass --home with a folder"
                )
            return


def catalog_file(settings: Settings) -> Path | None:
    """Return the file of a SQLite catalog (None for a server URL or an in-memory one)."""
    url = settings.catalog_url
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    return Path(url.removeprefix("sqlite:///"))


def require_catalog(settings: Settings) -> None:
    """Raise :class:`CatalogError` when the settings name a SQLite catalog that does not exist.

    The message suggests the nearest data home that has a catalog: a sibling folder with a
    similar name, or the folders the home settings would otherwise choose.
    """
    path = catalog_file(settings)
    if path is None or path.is_file():
        return
    suggestion = _nearest_home(settings.home)
    hint = f"did you mean --home {suggestion}? " if suggestion else ""
    raise CatalogError(
        f"no catalog at {path}; {hint}`carscout import`, `carscout scrape` or `carscout run` "
        "creates one"
    )


def _nearest_home(home: Path) -> Path | None:
    candidates: list[Path] = []
    parent = home.parent
    try:
        if parent.is_dir():
            candidates = [p for p in parent.iterdir() if (p / CATALOG_FILE).is_file()]
    except OSError:  # an unreadable parent: nothing to suggest
        candidates = []
    names = {p.name: p for p in candidates}
    close = difflib.get_close_matches(home.name, list(names), n=1, cutoff=0.6)
    if close:
        return names[close[0]]
    default = (Path.cwd() / "data").resolve()
    if default != home and (default / CATALOG_FILE).is_file():
        return default
    return None
