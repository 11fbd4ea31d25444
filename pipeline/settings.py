"""Where carscout keeps its data and how it behaves, resolved from flags, env and carscout.toml.

Precedence for the data home: ``--home`` flag, then ``$CARSCOUT_HOME``, then ``home`` in
``./carscout.toml``, then ``./data``. The Dask cluster the heavy stages spread over follows the
same order: ``--cluster``, ``$CARSCOUT_CLUSTER``, ``cluster`` in ``carscout.toml``, else none
(the default, in-process runner).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

CONFIG_FILE_NAME = "carscout.toml"
DEFAULT_USER_AGENT = "carscout/0.1 (+https://github.com/carscout/carscout; image research crawler)"


@dataclass(frozen=True)
class IntakeLimits:
    """Bounds an image must respect to be stored."""

    max_bytes: int = 30 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 32


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one carscout invocation.

    ``catalog_url`` is a SQLAlchemy URL; by default ``sqlite:///<home>/catalog.sqlite``.
    ``cluster`` is a Dask scheduler address (``tcp://HOST:PORT``) or None for the default
    runner (see :func:`parse_cluster`).
    """

    home: Path
    catalog_url: str
    user_agent: str = DEFAULT_USER_AGENT
    intake: IntakeLimits = field(default_factory=IntakeLimits)
    cluster: str | None = None

    @property
    def store_dir(self) -> Path:
        """Return the folder of the content-addressed image store."""
        return self.home / "store"

    @property
    def runs_dir(self) -> Path:
        """Return the folder that holds one sub-folder per training run."""
        return self.home / "runs"

    @property
    def reports_dir(self) -> Path:
        """Return the folder for plots, contact sheets and other reports."""
        return self.home / "reports"

    def with_home(self, home: Path) -> Settings:
        """Return a copy whose data home moved to ``home``; a catalog in the old home moves with
        it, a catalog elsewhere (a PostgreSQL URL, an explicit file) stays."""
        moved = self.catalog_url == default_catalog_url(self.home)
        return replace(
            self, home=home, catalog_url=default_catalog_url(home) if moved else self.catalog_url
        )


def default_catalog_url(home: Path) -> str:
    """Return the SQLite URL of the catalog file inside ``home``."""
    return f"sqlite:///{(home / 'catalog.sqlite').resolve()}"


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or delete it") from exc


_KNOWN_KEYS = {"home", "catalog_url", "user_agent", "intake", "cluster"}
_INTAKE_KEYS = {"max_bytes", "max_pixels", "min_side"}


#: What ``--cluster`` accepts to mean "no cluster" (overrides $CARSCOUT_CLUSTER or the file).
LOCAL_RUNNER = "local"
_ADDRESS = re.compile(r"^(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def parse_cluster(value: str | None, origin: str = "--cluster") -> str | None:
    """Return the normalised Dask scheduler address of ``value``, or None for the default runner.

    ``tcp://HOST:PORT``, ``tls://HOST:PORT`` and ``HOST:PORT`` (taken as tcp) are accepted;
    None, an empty value and ``local`` mean no cluster. Raises :class:`ConfigError` naming
    ``origin`` (the flag, variable or file the value came from) for anything else.
    """
    if value is None or not value.strip() or value.strip().lower() == LOCAL_RUNNER:
        return None
    match = _ADDRESS.match(value.strip())
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise ConfigError(
            f"{origin} {value!r} is not a Dask scheduler address; give tcp://HOST:PORT (what "
            "`dask scheduler` prints, port 8786 by default) or 'local' for no cluster"
        )
    scheme, host, port = match.groups()
    return f"{scheme or 'tcp'}://{host}:{int(port)}"


def load_settings(
    home: Path | None = None, config_path: Path | None = None, cluster: str | None = None
) -> Settings:
    """Resolve settings from the arguments, the environment and ``carscout.toml``.

    ``cluster`` is the ``--cluster`` flag's value (``local`` forces the default runner).
    Returns a :class:`Settings` whose ``home`` is absolute. Raises :class:`ConfigError` for an
    unknown key or a value of the wrong type in the config file, or a malformed cluster address.
    """
    config_path = config_path or Path.cwd() / CONFIG_FILE_NAME
    data = _read_config_file(config_path) if config_path.is_file() else {}
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{config_path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_KNOWN_KEYS)}"
        )
    env_home = os.environ.get("CARSCOUT_HOME")
    chosen = home or (Path(env_home) if env_home else None) or Path(data.get("home", "data"))
    chosen = chosen.expanduser().resolve()
    intake_data = data.get("intake", {})
    if not isinstance(intake_data, dict) or set(intake_data) - _INTAKE_KEYS:
        raise ConfigError(f"{config_path}: [intake] accepts only {sorted(_INTAKE_KEYS)}")
    for key, value in intake_data.items():
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{config_path}: intake.{key} must be a positive integer")
    catalog_url = os.environ.get("CARSCOUT_CATALOG_URL") or data.get("catalog_url")
    if catalog_url is not None and not isinstance(catalog_url, str):
        raise ConfigError(f"{config_path}: catalog_url must be a string such as sqlite:///x.db")
    return Settings(
        home=chosen,
        catalog_url=catalog_url or default_catalog_url(chosen),
        user_agent=str(data.get("user_agent", DEFAULT_USER_AGENT)),
        intake=IntakeLimits(**intake_data),
        cluster=_resolve_cluster(cluster, data, config_path),
    )


def _resolve_cluster(flag: str | None, data: dict[str, Any], config_path: Path) -> str | None:
    if flag is not None:
        return parse_cluster(flag, "--cluster")
    env = os.environ.get("CARSCOUT_CLUSTER")
    if env is not None:
        return parse_cluster(env, "CARSCOUT_CLUSTER")
    value = data.get("cluster")
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{config_path}: cluster must be a string such as 'tcp://HOST:8786'")
    return parse_cluster(value, f"{config_path}: cluster")
