"""One rule for every stage that queues an image for review (curation.review.queue.enqueue)."""

from __future__ import annotations

import sqlalchemy as sa

from curation.review.decisions import decide
from curation.review.queue import LABEL_CONFLICT, NOT_A_CAR, WRONG_MODEL, Finding, enqueue
from pipeline import schema as t
from pipeline.workspace import Workspace
from tests.curation.test_dedup import add, jpeg, scene


def _items(workspace: Workspace, image_id: int) -> list[sa.Row]:
    with workspace.catalog.reading() as conn:
        return conn.execute(
            sa.select(t.review_items).where(t.review_items.c.image_id == image_id)
        ).all()


def _score(image_id: int, score: float, run: int, reason: str = WRONG_MODEL) -> Finding:
    return Finding(image_id, reason, "wagonr", score, {"run_id": run, "issue_score": score})


def _conflict(image_id: int, score: float, group: int) -> Finding:
    return Finding(image_id, LABEL_CONFLICT, "swift", score, {"group_id": group, "run_id": None})


def test_a_conflict_takes_over_an_open_score_item_instead_of_adding_a_second(
    workspace: Workspace,
) -> None:
    image = add(workspace, jpeg(scene(1)), name="a")
    with workspace.catalog.atomic() as conn:
        first = enqueue(conn, [_score(image, 0.7, run=3)])
        second = enqueue(conn, [_conflict(image, 0.5, group=9)])
    assert (first.added, second.added, second.refreshed) == (1, 0, 1)
    assert second.by_reason == {LABEL_CONFLICT: 1}
    (item,) = _items(workspace, image)
    assert (item.reason, item.suggested_label, item.state) == (LABEL_CONFLICT, "swift", "pending")
    assert item.score == 0.7, "the higher score of the two"
    # Both findings' evidence; the conflict's keys win where they overlap.
    assert item.detail == {"group_id": 9, "run_id": None, "issue_score": 0.7}


def test_a_newer_finding_of_the_same_rank_replaces_and_a_skipped_item_stays_skipped(
    workspace: Workspace,
) -> None:
    image = add(workspace, jpeg(scene(2)), name="a")
    with workspace.catalog.atomic() as conn:
        enqueue(conn, [_conflict(image, 0.5, group=1)])
    (item,) = _items(workspace, image)
    decide(workspace.catalog, item.id, "skip", actor="review:test")
    with workspace.catalog.atomic() as conn:
        again = enqueue(conn, [_conflict(image, 0.25, group=2)])
        score = enqueue(conn, [_score(image, 0.9, run=4, reason=NOT_A_CAR)])
    assert (again.added, again.refreshed, score.refreshed) == (0, 1, 1)
    (item,) = _items(workspace, image)
    assert item.state == "skipped"
    assert (item.reason, item.score) == (LABEL_CONFLICT, 0.9)
    assert item.detail["group_id"] == 2, "the newer group, not the superseded one"


def test_a_decided_image_is_queued_again_only_when_asked(workspace: Workspace) -> None:
    image = add(workspace, jpeg(scene(3)), name="a")
    with workspace.catalog.atomic() as conn:
        enqueue(conn, [_score(image, 0.8, run=1)])
    decide(workspace.catalog, _items(workspace, image)[0].id, "keep", actor="review:test")
    with workspace.catalog.atomic() as conn:
        held = enqueue(conn, [_conflict(image, 0.5, group=1)])
        forced = enqueue(conn, [_score(image, 0.6, run=2)], requeue=True)
    assert (held.added, held.already_decided, held.by_reason) == (0, 1, {})
    assert (forced.added, forced.by_reason) == (1, {WRONG_MODEL: 1})
    states = sorted((i.state, i.reason) for i in _items(workspace, image))
    assert states == [("decided", WRONG_MODEL), ("pending", WRONG_MODEL)]


def test_two_findings_for_one_image_in_one_call_make_one_item(workspace: Workspace) -> None:
    image = add(workspace, jpeg(scene(4)), name="a")
    with workspace.catalog.atomic() as conn:
        done = enqueue(conn, [_score(image, 0.4, run=1), _conflict(image, 0.2, group=5)])
    assert (done.added, done.refreshed) == (1, 1)
    (item,) = _items(workspace, image)
    assert (item.reason, item.score) == (LABEL_CONFLICT, 0.4)
