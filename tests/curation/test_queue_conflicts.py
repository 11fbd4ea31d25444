"""A label conflict found by deduplication stays one when the photo is scored and queued too."""

from __future__ import annotations

import sqlalchemy as sa

from curation.dedup.run import DedupConfig, run_dedup
from curation.labels.issues import ScoreConfig, score_catalog
from curation.review.queue import LABEL_CONFLICT, QueueConfig, build_queue, queue_items
from pipeline import schema as t
from pipeline.workspace import Workspace
from tests.curation.test_dedup import add, copies, jpeg, scene


def test_a_pending_label_conflict_keeps_its_reason_after_scoring_and_queueing(
    workspace: Workspace,
) -> None:
    for seed in range(8):
        add(workspace, jpeg(scene(100 + seed)), label="swift", name=f"swift{seed}")
        add(workspace, jpeg(scene(200 + seed, car_colour=(170, 40, 30))), "wagonr", f"w{seed}")
    # One photo posted under both labels: deduplication cannot pick a copy and asks a person.
    original = scene(300)
    conflict = {
        add(workspace, jpeg(original), label="swift", name="post-a"),
        add(workspace, copies(original)["resized"], label="wagonr", name="post-b"),
    }
    deduped = run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1))
    assert deduped.conflicts == 1 and deduped.queued == 2
    with workspace.catalog.reading() as conn:
        before = {
            r.image_id: r
            for r in conn.execute(
                sa.select(t.review_items).where(t.review_items.c.image_id.in_(conflict))
            )
        }
    assert {r.reason for r in before.values()} == {LABEL_CONFLICT}

    scored = score_catalog(workspace, ScoreConfig(source="handmade"), reuse=False)
    # The whole of each label is queued, so both conflicting photos are among the scored ones.
    built = build_queue(workspace.catalog, QueueConfig(budget=1.0, run_id=scored.run_id))

    assert built.refreshed == 2 and built.by_reason[LABEL_CONFLICT] == 2
    with workspace.catalog.reading() as conn:
        items = {i.image_id: i for i in queue_items(conn) if i.image_id in conflict}
        per_image = dict(
            conn.execute(
                sa.select(t.review_items.c.image_id, sa.func.count())
                .where(t.review_items.c.image_id.in_(conflict))
                .group_by(t.review_items.c.image_id)
            ).all()
        )
    assert per_image == {image_id: 1 for image_id in conflict}, "refreshed, not duplicated"
    for image_id, item in items.items():
        old = before[image_id]
        assert (item.reason, item.state) == (LABEL_CONFLICT, "pending")
        assert item.suggested_label == old.suggested_label
        # It gets the score when that is higher, and keeps the dedup group beside it.
        assert item.score >= old.score
        assert item.detail["group_id"] == old.detail["group_id"]
        assert item.detail["run_id"] == scored.run_id and "issue_score" in item.detail
    # Deduplication still sees its open conflict and queues nothing twice.
    again = run_dedup(workspace.catalog, workspace.store, DedupConfig(workers=1, full=True))
    assert again.conflicts == 1 and again.queued == 0
