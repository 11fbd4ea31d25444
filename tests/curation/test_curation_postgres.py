"""Dedup, review decisions and split building on a real PostgreSQL catalog.

The tests are the SQLite ones, imported unchanged; only ``workspace`` is replaced by a
workspace on a fresh PostgreSQL catalog (and ``$CARSCOUT_CATALOG_URL`` points the CLI at it).
"""

from __future__ import annotations

import pytest

from pipeline.workspace import Workspace
from tests.curation.test_dedup import (  # noqa: F401 - collected here as PostgreSQL runs
    test_cli_prints_a_summary_and_writes_a_contact_sheet,
    test_different_labels_go_to_review_instead_of_being_resolved,
    test_incremental_run_finds_a_new_copy_of_an_old_photo,
    test_reposted_copies_are_grouped_and_the_best_copy_kept,
)
from tests.curation.test_review import (  # noqa: F401
    test_a_bad_decisions_file_changes_nothing,
    test_decisions_and_undo_write_history,
    test_queue_budget_reasons_and_requeue,
    test_sheets_and_a_good_decisions_file,
)
from tests.curation.test_split import (  # noqa: F401
    test_sizes_are_exact_and_balanced_over_labels,
    test_split_command_prints_subset_by_label_table,
)
from tests.curation.test_split_leakage import (  # noqa: F401
    test_listings_duplicate_groups_and_near_duplicates_never_straddle,
)
from tests.curation.test_split_versions import (  # noqa: F401
    test_growing_keeps_the_test_set_and_places_only_new_images,
    test_reshuffle_creates_a_new_version_and_keeps_the_old,
)
from tests.postgres import postgres_server, postgres_workspace  # noqa: F401


@pytest.fixture
def workspace(postgres_workspace: Workspace) -> Workspace:  # noqa: F811
    """The imported tests' workspace, on PostgreSQL."""
    return postgres_workspace
