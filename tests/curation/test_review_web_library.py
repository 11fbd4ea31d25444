"""The library under the review page: pages and filters, batch decisions and undo, the
address and Host rules, a second decision on one item refused."""

from __future__ import annotations

import pytest

from curation.review.decisions import decide, undo_decisions
from curation.review.queue import ReviewError, get_item
from curation.review.web.actions import NewLabelError, UndoStack, decide_items
from curation.review.web.pages import queue_page
from curation.review.web.server import allowed_hosts, check_host
from curation.review.web.thumbs import NoSuchImage, ThumbCache
from pipeline.workspace import Workspace
from tests.curation.review_photos import queue_photos


def _state(ws: Workspace, item_id: int) -> str | None:
    with ws.catalog.reading() as conn:
        item = get_item(conn, item_id)
    return item.state if item else None


def test_pages_filters_and_groups(workspace: Workspace) -> None:
    queued = queue_photos(workspace, 12, conflict_group=3)
    with workspace.catalog.reading() as conn:
        first = queue_page(conn, 0, 5)
        last = queue_page(conn, 10, 5)
        wrong_swift = queue_page(conn, 0, 60, reason="wrong model?", label="swift")
    assert [i.id for i in first.items] == [q.item_id for q in queued[:5]]
    assert [i.id for i in last.items] == [q.item_id for q in queued[10:]]
    assert first.total == last.total == 12
    assert first.reasons == {"label conflict": 3, "not a car?": 3, "wrong model?": 6}
    assert first.labels == {"swift": 6, "wagonr": 6}
    expected = [q.item_id for q in queued if q.reason == "wrong model?" and q.label == "swift"]
    assert [i.id for i in wrong_swift.items] == expected and wrong_swift.total == len(expected)
    group = first.groups[1]
    assert group["kept_image_id"] == queued[0].image_id
    assert [m["label"] for m in group["members"]] == ["swift", "wagonr", "swift"]


def test_batches_undo_and_no_second_decision(workspace: Workspace) -> None:
    queued = queue_photos(workspace, 6)
    ids = [q.item_id for q in queued]
    catalog = workspace.catalog
    with pytest.raises(NewLabelError, match=r"'swfit' is not a label .*closest: swift"):
        decide_items(catalog, ids[:2], "relabel", "review:web", "swfit")
    assert _state(workspace, ids[0]) == "pending"
    decide(catalog, ids[1], "keep", "review:term")  # the terminal got there first
    stack = UndoStack()
    result = decide_items(catalog, ids[:3], "reject", "review:web")
    stack.push(result.decisions)
    assert [d.item_id for d in result.decisions] == [ids[0], ids[2]]
    assert "already decided" in result.refused[ids[1]]
    undone = stack.undo(catalog, "review:web")
    assert sorted(d.item_id for d in undone) == [ids[0], ids[2]]
    # Another reviewer's decision is not this actor's to undo; nothing of the batch changes.
    term = decide(catalog, ids[3], "skip", "review:term")
    mine = decide(catalog, ids[4], "keep", "review:web")
    with pytest.raises(ReviewError, match="made by review:term"):
        undo_decisions(catalog, [mine.id, term.id], "review:web")
    assert _state(workspace, ids[4]) == "decided"
    # A skipped item decided again: its skip cannot be undone under the later decision.
    later = decide(catalog, ids[3], "keep", "review:web")
    with pytest.raises(ReviewError, match="decided again"):
        undo_decisions(catalog, [term.id], "review:term")
    assert later.item_id == ids[3]


def test_addresses_hosts_and_images_by_id(workspace: Workspace) -> None:
    with pytest.raises(ReviewError, match="every interface"):
        check_host("0.0.0.0")
    with pytest.raises(ReviewError, match="every interface"):
        check_host("::")
    assert allowed_hosts("127.0.0.1", 8000) >= {"127.0.0.1:8000", "localhost:8000"}
    assert allowed_hosts("192.168.1.20", 80) == {"192.168.1.20:80"}
    queued = queue_photos(workspace, 1)
    thumbs = ThumbCache(workspace.catalog, workspace.store, workspace.settings.home / "thumbs")
    path = thumbs.path_for(queued[0].image_id)
    assert path.is_file() and thumbs.path_for(queued[0].image_id) == path
    with pytest.raises(NoSuchImage, match="no image 999 in the catalog"):
        thumbs.path_for(999)
