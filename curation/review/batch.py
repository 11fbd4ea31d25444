"""Batch review: numbered contact sheets of the queue, and a decisions CSV applied all-or-nothing.

``carscout review sheet`` writes ``sheet-001.png``, ``sheet-002.png``… (each tile numbered and
captioned with its label and reason) and ``decisions.csv`` with one row per tile::

    number,item_id,image_id,sheet,label,reason,suggested_label,score,action,new_label
    1,17,123,1,swift,wrong model?,wagonr,0.912,,

Fill ``action`` (keep, relabel, reject, skip; empty = leave open) and, for relabel,
``new_label``, then ``carscout review apply decisions.csv``. Every row is validated first; one
bad row means nothing is applied, and the error lists each bad row by its line number.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from curation.review.contact_sheet import contact_sheet
from curation.review.decisions import ACTIONS, apply_decision
from curation.review.queue import (
    ReviewError,
    closest_label,
    get_item,
    known_labels,
    queue_items,
)
from pipeline.catalog import Catalog
from pipeline.store import ImageStore

SHEET_FIELDS = (
    "number",
    "item_id",
    "image_id",
    "sheet",
    "label",
    "reason",
    "suggested_label",
    "score",
    "action",
    "new_label",
)
REQUIRED_FIELDS = ("item_id", "action")


@dataclass
class SheetSet:
    """What :func:`write_sheets` wrote: the PNG ``sheets`` in order and the ``decisions`` CSV."""

    sheets: list[Path]
    decisions: Path
    items: int


def write_sheets(
    catalog: Catalog,
    store: ImageStore,
    out_dir: Path,
    per_sheet: int = 48,
    columns: int = 8,
    tile: int = 160,
) -> SheetSet:
    """Write numbered contact sheets of every open item and a decisions CSV to fill in.

    Numbers run across sheets in review order (pending by score, then skipped).
    """
    if per_sheet < 1 or columns < 1 or tile < 32:
        raise ReviewError("per_sheet and columns must be >= 1 and tile >= 32 pixels")
    out_dir.mkdir(parents=True, exist_ok=True)
    with catalog.reading() as conn:
        items = queue_items(conn)
    sheets: list[Path] = []
    rows: list[dict[str, object]] = []
    for start in range(0, len(items), per_sheet):
        sheet_no = start // per_sheet + 1
        tiles = []
        for offset, item in enumerate(items[start : start + per_sheet]):
            number = start + offset + 1
            suggestion = item.suggested_label or "reject?"
            tiles.append(
                (store.path(item.store_path), f"#{number} {item.label}\n{item.reason} {suggestion}")
            )
            rows.append(
                {
                    "number": number,
                    "item_id": item.id,
                    "image_id": item.image_id,
                    "sheet": sheet_no,
                    "label": item.label,
                    "reason": item.reason,
                    "suggested_label": item.suggested_label or "",
                    "score": f"{item.score:.3f}",
                    "action": "",
                    "new_label": "",
                }
            )
        path = out_dir / f"sheet-{sheet_no:03d}.png"
        sheets.append(contact_sheet(tiles, path, columns=columns, thumb_size=tile))
    decisions = out_dir / "decisions.csv"
    with decisions.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, SHEET_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return SheetSet(sheets, decisions, len(items))


class DecisionFileError(ReviewError):
    """A decisions file with bad rows; ``problems`` lists them as ``line N: what is wrong``."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:10]) + (
            f"; … {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        super().__init__(f"{path}: nothing applied, {len(problems)} bad row(s): {shown}")


@dataclass
class ApplySummary:
    """What :func:`apply_decisions_file` applied: counts per action, and rows left open."""

    applied: dict[str, int] = field(default_factory=dict)
    left_open: int = 0


@dataclass(frozen=True)
class _Row:
    line: int
    item_id: int
    action: str
    new_label: str | None
    image_id: int | None = None


def _parse(path: Path) -> tuple[list[_Row], list[str], int]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ReviewError(f"cannot read decisions file {path}: {exc.strerror}") from exc
    problems: list[str] = []
    parsed: list[_Row] = []
    left_open = 0
    with handle:
        reader = csv.DictReader(handle)
        missing = [name for name in REQUIRED_FIELDS if name not in (reader.fieldnames or [])]
        if missing:
            raise DecisionFileError(
                path,
                [f"header lacks column(s) {', '.join(missing)} (write it with `review sheet`)"],
            )
        for row in reader:
            line = reader.line_num
            action = (row.get("action") or "").strip().lower()
            if not action:
                left_open += 1
                continue
            try:
                item_id = int((row.get("item_id") or "").strip())
            except ValueError:
                problems.append(f"line {line}: item_id {row.get('item_id')!r} is not a number")
                continue
            if action not in ACTIONS:
                problems.append(
                    f"line {line}: action {action!r} is not one of {', '.join(ACTIONS)}"
                )
                continue
            new_label = (row.get("new_label") or "").strip() or None
            if action == "relabel" and new_label is None:
                problems.append(f"line {line}: relabel needs new_label")
                continue
            image_text = (row.get("image_id") or "").strip()
            if image_text and not image_text.isdigit():
                problems.append(f"line {line}: image_id {image_text!r} is not a number")
                continue
            parsed.append(
                _Row(line, item_id, action, new_label, int(image_text) if image_text else None)
            )
    return parsed, problems, left_open


def apply_decisions_file(
    catalog: Catalog, path: Path, actor: str, *, allow_new_labels: bool = False
) -> ApplySummary:
    """Validate every row of ``path`` and apply them all in one transaction, or none.

    Raises :class:`DecisionFileError` naming each bad row (unknown item, item already decided,
    image id that does not match, duplicate item, bad action or label); then nothing changes.
    A relabel to a label no active image carries is a bad row (a typo would start a one-photo
    class) unless ``allow_new_labels``.
    """
    rows, problems, left_open = _parse(path)
    seen: dict[int, int] = {}
    with catalog.reading() as conn:
        labels = known_labels(conn)
        for row in rows:
            if (
                row.action == "relabel"
                and row.new_label is not None
                and row.new_label not in labels
                and not allow_new_labels
            ):
                closest = closest_label(row.new_label, labels)
                problems.append(
                    f"line {row.line}: new_label {row.new_label!r} is not a label in the catalog"
                    + (f" (did you mean {closest!r}?)" if closest else "")
                    + "; fix it, or pass --allow-new-labels to start that label"
                )
                continue
            if row.item_id in seen:
                problems.append(
                    f"line {row.line}: item {row.item_id} repeats line {seen[row.item_id]}"
                )
                continue
            seen[row.item_id] = row.line
            item = get_item(conn, row.item_id)
            if item is None:
                problems.append(f"line {row.line}: review item {row.item_id} does not exist")
            elif item.state == "decided":
                problems.append(f"line {row.line}: review item {row.item_id} is already decided")
            elif row.image_id is not None and row.image_id != item.image_id:
                problems.append(
                    f"line {row.line}: item {row.item_id} is image {item.image_id}, "
                    f"not {row.image_id}"
                )
            elif row.action == "relabel" and row.new_label == item.label:
                problems.append(
                    f"line {row.line}: item {row.item_id} is already labelled {row.new_label!r}"
                )
            elif row.action == "reject" and item.status != "active":
                problems.append(
                    f"line {row.line}: image {item.image_id} is {item.status}, cannot reject"
                )
    if problems:
        raise DecisionFileError(path, problems)
    summary = ApplySummary(left_open=left_open)
    with catalog.atomic() as conn:
        for row in rows:
            try:
                apply_decision(conn, row.item_id, row.action, actor, row.new_label)
            except ReviewError as exc:
                # Changed between validation and now: the transaction rolls everything back.
                raise DecisionFileError(path, [f"line {row.line}: {exc}"]) from exc
            summary.applied[row.action] = summary.applied.get(row.action, 0) + 1
    return summary
