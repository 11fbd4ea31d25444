"""The fixed test set, its fingerprint and the registry's rules on a real PostgreSQL catalog.

The tests are the SQLite ones, imported unchanged; only ``workspace`` is replaced by a
workspace on a fresh PostgreSQL catalog.
"""

from __future__ import annotations

import pytest

from pipeline.workspace import Workspace
from tests.postgres import postgres_server, postgres_workspace  # noqa: F401
from tests.training.test_fixed_test_set import (  # noqa: F401 - collected here as PostgreSQL runs
    test_a_test_set_changed_outside_carscout_is_refused,
    test_pending_reviews_leave_the_test_set_and_its_fingerprint_alone,
    test_relabelled_and_rejected_test_photos_are_scored_as_built_until_a_new_version,
)
from tests.training.test_registry import (  # noqa: F401
    test_champion_is_chosen_on_validation_and_a_tie_is_not_a_win,
    test_recorded_test_metrics_carry_their_test_set_and_each_look_counts,
    test_runs_on_different_test_sets_are_not_compared_on_test,
    test_significantly_worse_on_the_same_test_set_is_not_promoted,
)


@pytest.fixture
def workspace(postgres_workspace: Workspace) -> Workspace:  # noqa: F811
    """The imported tests' workspace, on PostgreSQL."""
    return postgres_workspace
