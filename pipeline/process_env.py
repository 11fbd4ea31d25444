"""The process environment carscout runs in, set once at each entry point.

TensorFlow and Prefect read their settings from environment variables when they are first
imported, so :func:`configure` runs before either loads, at every place a carscout process
starts: the ``carscout`` command (:func:`cli.app.main`), the flow-run process of a scheduled
run (``flows.schedules.recording.run_recorded``), each process-pool worker (as the pool's
``initializer``), each Dask task (``flows.cluster.apply_work``, ``flows.sharding.photo_shard``)
and the test session (``tests/conftest.py``). Child processes inherit the variables; whether
the run is verbose travels with them in ``CARSCOUT_VERBOSE``.

Quiet, the default, keeps TensorFlow's and absl's own lines off the terminal:
``TF_CPP_MIN_LOG_LEVEL=3`` stops most of TensorFlow's C++ log, the Python loggers
``tensorflow`` and ``absl`` pass errors only, and ``import tensorflow`` runs with file
descriptor 2 on /dev/null. That last part is needed because TensorFlow 2.17+ writes a few lines
at import through absl before anything honours ``TF_CPP_MIN_LOG_LEVEL`` (``WARNING: All log
messages before absl::InitializeLog() is called are written to STDERR``, ``oneDNN custom
operations are on …``). oneDNN itself stays on: ``TF_ENABLE_ONEDNN_OPTS=0`` would silence the
line too, but halves training speed on these CPUs.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

VERBOSE_VARIABLE = "CARSCOUT_VERBOSE"

#: Set unless the user's environment already sets them.
DEFAULTS = {
    # Once seen: "database is locked" from the telemetry heartbeat on a fresh Prefect database.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # A fresh Prefect home builds its database on the first call: more than Prefect's default
    # 20 s on two busy cores.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}
QUIET_DEFAULTS = {"TF_CPP_MIN_LOG_LEVEL": "3"}
#: Python loggers that pass only errors when quiet.
QUIET_LOGGERS = ("tensorflow", "absl")
#: Modules imported with file descriptor 2 on /dev/null when quiet.
QUIET_IMPORTS = ("tensorflow",)


def configure(verbose: bool | None = None) -> bool:
    """Set this process's environment for carscout and return whether it is verbose.

    ``verbose=None`` (a pool or Dask worker) takes the verbosity its parent recorded in
    ``CARSCOUT_VERBOSE`` (quiet when unset). Idempotent; variables the user set are kept.
    """
    if verbose is None:
        verbose = os.environ.get(VERBOSE_VARIABLE) == "1"
    os.environ[VERBOSE_VARIABLE] = "1" if verbose else "0"
    for name, value in (DEFAULTS if verbose else DEFAULTS | QUIET_DEFAULTS).items():
        os.environ.setdefault(name, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.ERROR)
    finder = next((f for f in sys.meta_path if isinstance(f, _QuietImportFinder)), None)
    if verbose and finder is not None:
        sys.meta_path.remove(finder)
    elif not verbose and finder is None:
        sys.meta_path.insert(0, _QuietImportFinder(QUIET_IMPORTS))
    return verbose


def verbose_requested(args: Sequence[str]) -> bool:
    """Return True when ``--verbose`` is among the command-line ``args`` (before any ``--``)."""
    args = list(args)
    return "--verbose" in (args[: args.index("--")] if "--" in args else args)


@contextmanager
def stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block (C++ code writes there directly)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to silence
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's ``exec_module`` with stderr silenced."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        """Return what the wrapped loader creates (None: the default module)."""
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        """Run the module with stderr silenced, then give it back its own loader."""
        with stderr_silenced():
            self._loader.exec_module(module)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Finds the ``names`` packages where the path finder does, to load them quietly."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """Return the package's spec with a silencing loader, or None for any other module."""
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _QuietLoader(spec.loader)
        return spec
