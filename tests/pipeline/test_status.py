"""`carscout status`: counts by label and status, splits and review progress."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner

from cli.app import app
from pipeline import schema as t
from pipeline.catalog import change_image
from pipeline.intake import Provenance, intake_image
from pipeline.status import catalog_status
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg


def test_status_counts_statuses_splits_and_review(workspace: Workspace) -> None:
    ids = [
        intake_image(workspace.catalog, workspace.store, small_jpeg(i), Provenance(label)).image_id
        for i, label in enumerate(["swift", "swift", "swift", "wagonr"])
    ]
    with workspace.catalog.atomic() as conn:
        change_image(conn, ids[1], actor="test", status="rejected")
        split_id = conn.execute(
            sa.insert(t.splits).values(name="default", version=1, seed=0)
        ).inserted_primary_key[0]
        conn.execute(
            sa.insert(t.split_assignments),
            [
                {"split_id": split_id, "image_id": ids[0], "subset": "train", "label": "swift"},
                {"split_id": split_id, "image_id": ids[3], "subset": "test", "label": "wagonr"},
            ],
        )
        conn.execute(
            sa.insert(t.review_items),
            [
                {"image_id": ids[2], "reason": "wrong model?", "state": "pending"},
                {"image_id": ids[1], "reason": "not a car?", "state": "decided"},
            ],
        )
    with workspace.catalog.reading() as conn:
        status = catalog_status(conn)
    assert status.by_label_status == {
        ("swift", "active"): 2,
        ("swift", "rejected"): 1,
        ("wagonr", "active"): 1,
    }
    assert status.by_split == {("default@v1", "train"): 1, ("default@v1", "test"): 1}
    assert status.review == {("wrong model?", "pending"): 1, ("not a car?", "decided"): 1}

    output = (
        CliRunner()
        .invoke(app, ["--home", str(workspace.settings.home), "status"], env={"COLUMNS": "120"})
        .output
    )
    assert "Review queue" in output and "wrong model?" in output
    assert "default@v1" in output
