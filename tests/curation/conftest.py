"""Fixtures shared by the curation tests."""

from __future__ import annotations

import pytest

from pipeline.workspace import Workspace
from tests.curation.split_catalog import LABELS, Catalogued


@pytest.fixture
def catalogued(workspace: Workspace) -> Catalogued:
    """A workspace with 24 usable photos per label (2 listings of 3, 4 of 2, 10 singles)."""
    cat = Catalogued(workspace)
    for label in LABELS:
        cat.populate(label)
    return cat
