"""Interactive terminal review: one photo at a time, single keys, every decision committed at once.

:func:`review_loop` is the whole session as a function of the catalog, a key source and an
output stream, so tests can drive it and the ``carscout review`` command only wires the real
terminal to it. Keys::

    k keep    r relabel (1-9 pick a label, the suggestion first; / type one)    x reject
    s skip    u undo the last decision    q quit (Ctrl-C and Ctrl-D quit too)

Photos are drawn by :mod:`curation.review.terminal_image` (kitty, sixel, iTerm2, Unicode
half-blocks in any other terminal, or a thumbnail file when output is not a terminal); keys come
from :mod:`curation.review.keys`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from curation.review.decisions import decide, undo_last
from curation.review.keys import QUIT_KEYS, KeyReader
from curation.review.queue import (
    ReviewError,
    ReviewItem,
    closest_label,
    get_item,
    known_labels,
    queue_items,
)
from curation.review.terminal_image import PhotoShower
from pipeline.catalog import Catalog
from pipeline.store import ImageStore

HELP = "[k]eep  [r]elabel  [x] reject  [s]kip  [u]ndo  [q]uit"


# --- the session ------------------------------------------------------------------------


@dataclass
class ReviewSummary:
    """Counts of one session's decisions that stand (an undone one no longer counts);
    ``undo`` counts the undos, ``remaining`` the open items when the session ended."""

    keep: int = 0
    relabel: int = 0
    reject: int = 0
    skip: int = 0
    undo: int = 0
    remaining: int = 0
    finished: bool = False
    standing: dict[int, str] = field(default_factory=dict)

    def record(self, item_id: int, action: str) -> None:
        """Count ``action`` on ``item_id`` (replacing what the item had this session)."""
        self.standing[item_id] = action
        self._recount()

    def undone(self, item_id: int) -> None:
        """Forget this session's decision on ``item_id`` (made before this session: nothing)."""
        self.standing.pop(item_id, None)
        self._recount()

    def _recount(self) -> None:
        for action in ("keep", "relabel", "reject", "skip"):
            setattr(self, action, sum(1 for a in self.standing.values() if a == action))


def _label_choices(item: ReviewItem, labels: list[str]) -> list[str]:
    ordered = [item.suggested_label] if item.suggested_label else []
    ordered += [label for label in labels if label not in ordered]
    return [label for label in ordered if label != item.label][:9]


def _ask_label(item: ReviewItem, labels: list[str], keys: KeyReader, out: TextIO) -> str | None:
    choices = _label_choices(item, labels)
    listed = "  ".join(
        f"{i}) {label}{' (suggested)' if label == item.suggested_label else ''}"
        for i, label in enumerate(choices, start=1)
    )
    out.write(f"  relabel to: {listed}  /) type a label  Esc) cancel\n")
    out.flush()
    while True:
        key = keys()
        if key in QUIT_KEYS or key == "\x1b":
            return None
        if key.isdigit() and 1 <= int(key) <= len(choices):
            return choices[int(key) - 1]
        if key == "/":
            typed = _type_label(keys, out)
            if typed is None or typed in labels:
                return typed
            return _confirm_new_label(typed, labels, keys, out)


def _confirm_new_label(typed: str, labels: list[str], keys: KeyReader, out: TextIO) -> str | None:
    """Ask before a label no photo carries yet: a typo would start a one-photo class."""
    closest = closest_label(typed, labels)
    offer = f"  Enter) use {closest}" if closest else ""
    out.write(
        f"  {typed!r} is not a label in the catalog"
        + (f" (closest: {closest})" if closest else "")
        + f".{offer}  y) start the new label {typed!r}  other key) cancel\n"
    )
    out.flush()
    key = keys()
    if key in ("y", "Y"):
        return typed
    if closest and key in ("\r", "\n"):
        return closest
    return None


def _type_label(keys: KeyReader, out: TextIO) -> str | None:
    out.write("  new label (Enter to confirm, Esc to cancel): ")
    out.flush()
    typed = ""
    while True:
        key = keys()
        if key in ("", "\x1b", "\x03"):
            out.write("\n")
            return None
        if key in ("\r", "\n"):
            out.write("\n")
            return typed.strip() or None
        if key in ("\x7f", "\b"):
            typed = typed[:-1]
        elif key.isprintable():
            typed += key
        out.write(key if key.isprintable() else "")
        out.flush()


def _render(item: ReviewItem, position: int, total: int, out: TextIO) -> None:
    suggestion = item.suggested_label or ("reject" if item.reason == "not a car?" else "-")
    out.write(
        f"\n[{position}/{total}] item {item.id} · image {item.image_id} · score {item.score:.3f}"
        f"{' (skipped before)' if item.state == 'skipped' else ''}\n"
        f"  listing   : {item.title or '(no listing)'}\n"
        f"  label     : {item.label}\n"
        f"  reason    : {item.reason}\n"
        f"  suggestion: {suggestion}\n"
    )


def review_loop(
    catalog: Catalog,
    store: ImageStore,
    keys: KeyReader,
    out: TextIO,
    actor: str,
    shower: PhotoShower | None = None,
    resume_hint: str = "carscout review",
) -> ReviewSummary:
    """Walk the open queue in review order, committing each decision as its key is read.

    Returns a :class:`ReviewSummary` of the decisions that stand. Quitting (``q``, Ctrl-C, end
    of input) keeps every decision made; the next session starts again from the open items,
    as ``resume_hint`` (the command to run) says.
    """
    summary = ReviewSummary()
    with catalog.reading() as conn:
        order = [item.id for item in queue_items(conn)]
        labels = known_labels(conn)
    total = len(order)
    if not order:
        out.write("The review queue is empty: nothing to review.\n")
        summary.finished = True
        return summary
    out.write(f"{total} photos to review. {HELP}\n")
    position = 0
    try:
        while position < len(order):
            with catalog.reading() as conn:
                item = get_item(conn, order[position])
            if item is None or item.state == "decided":
                position += 1
                continue
            _render(item, position + 1, total, out)
            if shower is not None:
                shower.show(item.image_id, store.path(item.store_path), out)
            out.write(f"  {HELP} > ")
            out.flush()
            key = keys()
            out.write("\n")
            if key in QUIT_KEYS:
                break
            action, new_label = _action_for(key, item, labels, keys, out)
            if action is None:
                continue
            if action == "undo":
                try:
                    undone = undo_last(catalog, actor)
                except ReviewError as exc:
                    out.write(f"  cannot undo: {exc}\n")
                    continue
                if undone is None:
                    out.write("  nothing to undo\n")
                    continue
                summary.undo += 1
                summary.undone(undone.item_id)
                out.write(f"  undid {undone.action} of item {undone.item_id}\n")
                # Back to the undone item, wherever it was: earlier in this session, later in
                # the order (an item skipped in an earlier session waits at the end), or not in
                # it at all (decided in an earlier session).
                if undone.item_id in order:
                    if order.index(undone.item_id) < position:
                        position -= 1
                    order.remove(undone.item_id)
                else:
                    total += 1
                order.insert(position, undone.item_id)
                continue
            try:
                decide(catalog, item.id, action, actor, new_label)
            except ReviewError as exc:
                out.write(f"  cannot {action}: {exc}\n")
                continue
            summary.record(item.id, action)
            detail = f" → {new_label}" if new_label else ""
            out.write(f"  saved: {action}{detail}\n")
            position += 1
        else:
            summary.finished = True
    except KeyboardInterrupt:
        out.write("\ninterrupted\n")
    with catalog.reading() as conn:
        summary.remaining = len(queue_items(conn))
    out.write(
        f"\nSaved decisions — keep {summary.keep}, relabel {summary.relabel}, reject "
        f"{summary.reject}, skip {summary.skip}"
        + (f" ({summary.undo} undone)" if summary.undo else "")
        + f"; {summary.remaining} open items left (`{resume_hint}` resumes).\n"
    )
    out.flush()
    return summary


def _action_for(
    key: str, item: ReviewItem, labels: list[str], keys: KeyReader, out: TextIO
) -> tuple[str | None, str | None]:
    lowered = key.lower()
    if lowered == "k":
        return "keep", None
    if lowered in ("x", "d"):
        return "reject", None
    if lowered == "s" or key == " ":
        return "skip", None
    if lowered == "u":
        return "undo", None
    if lowered == "r":
        label = _ask_label(item, labels, keys, out)
        if label is None:
            out.write("  relabel cancelled\n")
            return None, None
        return "relabel", label
    out.write(f"  unknown key {key!r}; {HELP}\n")
    return None, None
