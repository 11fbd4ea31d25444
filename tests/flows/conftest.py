"""Prefect's own local engine for the flow tests, started once per session, and a real Dask
cluster for the ``--cluster`` tests, started once per module that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.flows.dask_processes import DaskProcesses, running_cluster


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Run the flows against a temporary Prefect API and database (no server needed)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """A ``dask scheduler`` and two single-threaded ``dask worker`` processes (``worker-a``,
    ``worker-b``), each in a folder of its own; stopped at the end of the module."""
    pytest.importorskip("distributed", reason="the dask extra: pip install -e '.[dask]'")
    with running_cluster(tmp_path_factory.mktemp("dask"), "worker-a", "worker-b") as processes:
        yield processes
