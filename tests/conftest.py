"""Fixtures shared by every test area. Append new fixtures; keep each one small."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from pipeline.workspace import Workspace  # noqa: E402


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
