"""Decisions from the review page, through the terminal review's own functions.

:func:`decide_items` applies one action to several items with
:func:`curation.review.decisions.decide` (one transaction each: the same history rows, and an
item decided meanwhile elsewhere is refused alone); :class:`UndoStack` remembers this server's
batches so undo takes back a whole batch, and falls back to the actor's newest decision
(:func:`curation.review.decisions.undo_last`) after a restart.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from curation.review.decisions import Decision, decide, undo_decisions, undo_last
from curation.review.queue import ReviewError, closest_label, known_labels
from pipeline.catalog import Catalog

MAX_BATCH = 500


class NewLabelError(ReviewError):
    """A relabel to a label no active photo carries, not confirmed; ``closest`` is the nearest
    existing label (or None)."""

    def __init__(self, label: str, closest: str | None) -> None:
        self.label = label
        self.closest = closest
        super().__init__(
            f"{label!r} is not a label in the catalog"
            + (f" (closest: {closest})" if closest else "")
            + "; pick an existing label, or confirm to start the new label"
        )


def check_new_label(catalog: Catalog, label: str, allow_new: bool) -> str:
    """Return ``label`` stripped; raise :class:`NewLabelError` when it is new and not allowed
    (a typo would start a one-photo class, as the terminal review and ``review apply`` guard)."""
    label = label.strip()
    if not label:
        raise ReviewError("relabel needs a new label")
    with catalog.reading() as conn:
        labels = known_labels(conn)
    if label not in labels and not allow_new:
        raise NewLabelError(label, closest_label(label, labels))
    return label


@dataclass
class BatchResult:
    """What :func:`decide_items` did: the decisions made and, per refused item, why."""

    decisions: list[Decision] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def decide_items(
    catalog: Catalog,
    item_ids: list[int],
    action: str,
    actor: str,
    new_label: str | None = None,
    allow_new_label: bool = False,
) -> BatchResult:
    """Apply ``action`` to each item (one transaction each) and return a :class:`BatchResult`.

    Raises :class:`ReviewError` before deciding anything for an empty or oversized batch, a
    repeated item, or a relabel refused by the label guard (:func:`check_new_label`).
    """
    if not item_ids:
        raise ReviewError("select at least one photo")
    if len(item_ids) > MAX_BATCH:
        raise ReviewError(f"at most {MAX_BATCH} photos at once; got {len(item_ids)}")
    if len(set(item_ids)) != len(item_ids):
        raise ReviewError("an item appears twice in the batch")
    if action == "relabel":
        new_label = check_new_label(catalog, new_label or "", allow_new_label)
    result = BatchResult()
    for item_id in item_ids:
        try:
            result.decisions.append(decide(catalog, item_id, action, actor, new_label))
        except ReviewError as exc:
            result.refused[item_id] = str(exc)
    return result


class UndoStack:
    """This server's decision batches, newest last (thread-safe: requests run in a pool)."""

    def __init__(self) -> None:
        self._batches: list[list[int]] = []
        self._lock = threading.Lock()

    def push(self, decisions: list[Decision]) -> None:
        """Remember one batch (nothing for an empty one)."""
        if decisions:
            with self._lock:
                self._batches.append([d.id for d in decisions])

    def undo(self, catalog: Catalog, actor: str) -> list[Decision]:
        """Undo the newest batch (or, with none, ``actor``'s newest decision); return what was
        undone, empty when there is nothing to undo. A refused undo keeps the batch."""
        with self._lock:
            if not self._batches:
                last = undo_last(catalog, actor)
                return [last] if last is not None else []
            batch = self._batches[-1]
            undone = undo_decisions(catalog, batch, actor)
            self._batches.pop()
            return undone
