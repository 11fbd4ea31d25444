"""``collect_and_retrain`` stops right after scraping when a label brought too few photos."""

from __future__ import annotations

import pytest

from flows.retrain import check_labels_collected
from pipeline.errors import CarscoutError
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg


def test_a_label_with_too_few_photos_is_named_with_the_fix(workspace: Workspace) -> None:
    for seed in range(3):
        intake_image(workspace.catalog, workspace.store, small_jpeg(seed), Provenance("swift"))
    intake_image(workspace.catalog, workspace.store, small_jpeg(9), Provenance("wagonr"))
    with pytest.raises(CarscoutError) as raised:
        check_labels_collected(workspace.settings, ["swift", "wagonr", "alto"])
    message = str(raised.value)
    assert "wagonr (1)" in message and "alto (0)" in message and "swift" not in message
    assert "carscout scrape --site SPEC --labels LABEL" in message
    intake_image(workspace.catalog, workspace.store, small_jpeg(10), Provenance("wagonr"))
    check_labels_collected(workspace.settings, ["swift", "wagonr"])
