"""Decisions on review items: record one, apply it to the image, undo the last one.

* :func:`decide` / :func:`apply_decision` record a decision (``keep``, ``relabel``, ``reject``,
  ``skip``) and change the image through :func:`pipeline.catalog.change_image` in the same
  transaction, so history and decision can never disagree.
* :func:`undo_last` marks the actor's newest decision undone, restores the label/status (again
  through ``change_image``, so history keeps both changes) and puts the item back to pending.
* ``skip`` leaves the item open with state ``skipped``; the queue lists it after every pending
  item (:func:`curation.review.queue.queue_items`).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from curation.review.queue import ReviewError, get_item
from pipeline import schema as t
from pipeline.catalog import Catalog, change_image

ACTIONS = ("keep", "relabel", "reject", "skip")


def default_actor() -> str:
    """Return ``review:<login name>``, the actor recorded for this user's decisions."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"review:{user}"


@dataclass(frozen=True)
class Decision:
    """One recorded decision (``undone_at`` set once undone)."""

    id: int
    item_id: int
    image_id: int
    action: str
    old_label: str | None
    new_label: str | None
    actor: str
    undone_at: datetime | None = None


def apply_decision(
    conn: Connection,
    item_id: int,
    action: str,
    actor: str,
    new_label: str | None = None,
) -> Decision:
    """Record ``action`` on an open item inside the caller's transaction and return it.

    ``relabel`` needs ``new_label`` (different from the current one); ``reject`` sets the image
    status to ``rejected`` (the file stays in the store). Raises :class:`ReviewError` for an
    unknown action or item, an item already decided, or a bad label.
    """
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    item = get_item(conn, item_id)
    if item is None:
        raise ReviewError(f"review item {item_id} does not exist; see `carscout review sheet`")
    if item.state == "decided":
        raise ReviewError(f"review item {item_id} is already decided; undo it first")
    reason = f"review item {item_id} ({item.reason}): {action}"
    new_value: str | None = None
    if action == "relabel":
        new_value = (new_label or "").strip()
        if not new_value:
            raise ReviewError(f"relabel of item {item_id} needs a new label")
        if new_value == item.label:
            raise ReviewError(f"item {item_id} is already labelled {new_value!r}; use keep")
        change_image(conn, item.image_id, actor=actor, reason=reason, label=new_value)
    elif action == "reject":
        if item.status != "active":
            raise ReviewError(
                f"image {item.image_id} of item {item_id} is {item.status}, not active; "
                "only active images can be rejected"
            )
        change_image(conn, item.image_id, actor=actor, reason=reason, status="rejected")
    now = t.utcnow()
    state = "skipped" if action == "skip" else "decided"
    # Conditional: of two reviewers (the terminal and the page, two machines on one catalog)
    # deciding the same item at once, only the first changes it; the second is refused.
    changed = conn.execute(
        sa.update(t.review_items)
        .where(t.review_items.c.id == item_id, t.review_items.c.state != "decided")
        .values(state=state, decided_at=now if state == "decided" else None)
    ).rowcount
    if changed != 1:
        raise ReviewError(f"review item {item_id} was just decided by another reviewer")
    decision_id = conn.execute(
        sa.insert(t.review_decisions).values(
            item_id=item_id,
            image_id=item.image_id,
            action=action,
            old_label=item.label,
            new_label=new_value,
            actor=actor,
        )
    ).inserted_primary_key[0]
    return Decision(int(decision_id), item_id, item.image_id, action, item.label, new_value, actor)


def decide(
    catalog: Catalog, item_id: int, action: str, actor: str, new_label: str | None = None
) -> Decision:
    """Apply one decision in its own transaction (committed when this returns)."""
    with catalog.atomic() as conn:
        return apply_decision(conn, item_id, action, actor, new_label)


def undo_last(catalog: Catalog, actor: str) -> Decision | None:
    """Undo ``actor``'s newest decision that is not undone yet; return it, or None if none.

    The label or status is restored through ``change_image`` (history keeps both changes) and
    the item goes back to ``pending``.
    """
    with catalog.atomic() as conn:
        row = conn.execute(
            sa.select(t.review_decisions)
            .where(t.review_decisions.c.actor == actor, t.review_decisions.c.undone_at.is_(None))
            .order_by(t.review_decisions.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else _undo_row(conn, row, actor)


def undo_decisions(catalog: Catalog, decision_ids: list[int], actor: str) -> list[Decision]:
    """Undo the given decisions of ``actor`` (newest first) in one transaction; return them.

    Raises :class:`ReviewError`, changing nothing, when one is not ``actor``'s, is already
    undone, or its item was decided again since (undo that decision first).
    """
    with catalog.atomic() as conn:
        rows = conn.execute(
            sa.select(t.review_decisions)
            .where(t.review_decisions.c.id.in_(decision_ids))
            .order_by(t.review_decisions.c.id.desc())
        ).all()
        found = {row.id for row in rows}
        missing = [d for d in decision_ids if d not in found]
        if missing:
            raise ReviewError(f"review decision {missing[0]} does not exist")
        undone = []
        for row in rows:
            if row.actor != actor:
                raise ReviewError(f"review decision {row.id} was made by {row.actor}, not {actor}")
            if row.undone_at is not None:
                raise ReviewError(f"review decision {row.id} is already undone")
            undone.append(_undo_row(conn, row, actor))
        return undone


def _undo_row(conn: Connection, row: Any, actor: str) -> Decision:
    later = conn.execute(
        sa.select(t.review_decisions.c.id).where(
            t.review_decisions.c.item_id == row.item_id,
            t.review_decisions.c.id > row.id,
            t.review_decisions.c.undone_at.is_(None),
        )
    ).first()
    if later is not None:
        raise ReviewError(
            f"item {row.item_id} was decided again after decision {row.id} "
            f"(decision {later.id}); undo that one first"
        )
    reason = f"undo of review decision {row.id} ({row.action}) on item {row.item_id}"
    if row.action == "relabel" and row.old_label is not None:
        change_image(conn, row.image_id, actor=actor, reason=reason, label=row.old_label)
    elif row.action == "reject":
        change_image(conn, row.image_id, actor=actor, reason=reason, status="active")
    now = t.utcnow()
    conn.execute(
        sa.update(t.review_decisions).where(t.review_decisions.c.id == row.id).values(undone_at=now)
    )
    conn.execute(
        sa.update(t.review_items)
        .where(t.review_items.c.id == row.item_id)
        .values(state="pending", decided_at=None)
    )
    return Decision(
        row.id, row.item_id, row.image_id, row.action, row.old_label, row.new_label, actor, now
    )
