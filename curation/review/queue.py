"""The review queue: which images a person should look at, and in which order.

* :func:`enqueue` is the one writer of new queue items, for every stage: a :class:`Finding`
  (image, reason, suggested label, score, evidence) becomes a pending item, or refreshes the
  image's open one, by one rule for which reason wins (a ``label conflict`` outranks a score).
* :func:`build_queue` turns the newest ``label_scores`` into findings — per label the
  highest-scoring images up to a budget (default 12 % of the label) or above a threshold — each
  with a reason (``wrong model?`` or ``not a car?``), a suggested label and the score. Images
  with a decided item are not queued again unless ``requeue``. Pending items that fall out of
  a later budget stay in the queue (someone may be about to review them).
* Deduplication queues the active members of a group whose copies carry different labels
  (reason ``label conflict``) through :func:`enqueue` too.
* Skipped items keep state ``skipped``: :func:`queue_items` lists them *after* every pending
  item, so a later session comes back to them at the end.

Decisions on the items are :mod:`curation.review.decisions`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline import schema as t
from pipeline.catalog import Catalog
from pipeline.errors import CarscoutError

WRONG_MODEL = "wrong model?"
NOT_A_CAR = "not a car?"
LABEL_CONFLICT = "label conflict"
DEFAULT_BUDGET = 0.12
# An outlier ratio of 1 is a typical photo of its label; this many times the median distance to
# the nearest neighbours counts as fully "not like the others".
OUTLIER_SATURATION = 2.0
# Share of a label's budget reserved for its most outlying photos (0: rank by issue only).
OUTLIER_SHARE = 0.0


class ReviewError(CarscoutError):
    """A decision that cannot be applied (unknown item, already decided, bad label...)."""


def outlier_component(outlier: float) -> float:
    """Map an outlier ratio (1 = typical) onto [0, 1] like an issue score."""
    return min(1.0, max(0.0, (outlier - 1.0) / (OUTLIER_SATURATION - 1.0)))


def queue_score(issue: float) -> float:
    """Return the queue score of an image (what ``--threshold`` compares): its issue score.

    The outlier ratio takes no part in it: it only names the reason (:func:`reason_for`), breaks
    ties and fills the optional ``outlier_share`` of a budget (:func:`select_top`). On the demo
    marketplace ranking by ``max(issue, outlier)`` queued more typical-looking correct photos
    than it found wrong ones (``benchmarks/label_issues.py``: recall 0.83 vs 0.875 by the issue
    score alone).
    """
    return issue


def select_top(
    issues: Sequence[float], outliers: Sequence[float], count: int, outlier_share: float = 0.0
) -> list[int]:
    """Return the indices of the ``count`` images to queue from one label, best first.

    ``count - floor(outlier_share × count)`` go by issue score (outlier ratio breaking ties);
    the rest to the highest outlier ratios among the others. E.g. issues ``[0.9, 0.2, 0.5]``,
    outliers ``[1, 4, 1]``, count 2: ``[0, 2]``; with ``outlier_share=0.5``: ``[0, 1]``.
    """
    count = min(count, len(issues))
    by_issue = sorted(range(len(issues)), key=lambda i: (-issues[i], -outliers[i], i))
    reserved = min(math.floor(outlier_share * count), count)
    chosen = by_issue[: count - reserved]
    rest = sorted(by_issue[count - reserved :], key=lambda i: (-outliers[i], i))
    return chosen + rest[:reserved]


def reason_for(issue: float, outlier: float, suggested: str | None) -> tuple[str, str | None]:
    """Return ``(reason, suggested label)``, the reason following the outlier score.

    A photo whose outlier evidence (:func:`outlier_component`) is at least its issue score is
    ``not a car?`` with no suggested label (suggest reject), even when the classifier names
    another class: with two labels every odd photo "looks like" the other one, and a document
    or an empty street is far from every photo of its label while a car of the other model is
    close to most of them. Otherwise the photo is ``wrong model?`` with ``suggested``.
    """
    if outlier_component(outlier) >= issue:
        return NOT_A_CAR, None
    return WRONG_MODEL, suggested


@dataclass(frozen=True)
class QueueConfig:
    """Either ``budget`` (a share of each label) or ``threshold`` (an issue score) selects;
    ``outlier_share`` of a label's budget goes to its most outlying photos (see
    :func:`select_top`)."""

    budget: float | None = DEFAULT_BUDGET
    threshold: float | None = None
    requeue: bool = False
    run_id: int | None = None
    outlier_share: float = OUTLIER_SHARE

    def __post_init__(self) -> None:
        if self.threshold is None and self.budget is None:
            raise ReviewError("give a budget (e.g. 0.12) or a score threshold")
        if self.budget is not None and not 0.0 < self.budget <= 1.0:
            raise ReviewError(f"budget must be a share in (0, 1], e.g. 0.12; got {self.budget}")
        if not 0.0 <= self.outlier_share <= 1.0:
            raise ReviewError(
                f"outlier share must be in [0, 1], e.g. 0.1; got {self.outlier_share}"
            )


@dataclass(frozen=True)
class Finding:
    """One reason for a person to look at an image: what a stage found, what it suggests, how
    sure it is (``score``, higher first) and the evidence (``detail``, stored as JSON)."""

    image_id: int
    reason: str
    suggested_label: str | None
    score: float
    detail: dict[str, Any]


@dataclass
class QueueBuild:
    """What :func:`enqueue` (and :func:`build_queue`) did. ``by_reason`` counts the items added
    or refreshed; ``run_id`` is the scoring run that :func:`build_queue` queued (else None)."""

    run_id: int | None = None
    added: int = 0
    refreshed: int = 0
    already_decided: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


def enqueue(conn: Connection, findings: Sequence[Finding], requeue: bool = False) -> QueueBuild:
    """Put ``findings`` in the review queue inside the caller's transaction; return the counts.

    The one place that writes queue items, so one rule decides between findings on an image:

    * an image has at most one open (pending or skipped) item: a new finding refreshes it,
      keeping its state, instead of adding a second one;
    * a ``label conflict`` (deduplication's copies carrying different labels) outranks a
      score's reason: whichever side is the conflict keeps its reason and suggestion, the
      score is the higher of the two and the details are merged (the conflict's win);
    * otherwise the newer finding replaces reason, suggestion, score and detail;
    * an image whose items are all decided is not queued again unless ``requeue``.
    """
    summary = QueueBuild()
    existing = _items_by_image(conn, sorted({f.image_id for f in findings}))
    for finding in findings:
        states = existing.setdefault(finding.image_id, {})
        open_item = states.get("pending") or states.get("skipped")
        values: dict[str, Any] = {
            "reason": finding.reason,
            "suggested_label": finding.suggested_label,
            "score": round(finding.score, 6),
            "detail": finding.detail,
        }
        if open_item is not None:
            values = _merged(open_item, values)
            conn.execute(
                sa.update(t.review_items)
                .where(t.review_items.c.id == open_item.id)
                .values(**values)
            )
            states[open_item.state] = _Open(open_item.id, open_item.state, **values)
            summary.refreshed += 1
        elif "decided" in states and not requeue:
            summary.already_decided += 1
            continue
        else:
            item_id = conn.execute(
                sa.insert(t.review_items).values(
                    image_id=finding.image_id, state="pending", **values
                )
            ).inserted_primary_key[0]
            states["pending"] = _Open(int(item_id), "pending", **values)
            summary.added += 1
        summary.by_reason[values["reason"]] = summary.by_reason.get(values["reason"], 0) + 1
    return summary


@dataclass(frozen=True)
class _Open:
    """An open item as :func:`enqueue` knows it (a row of :func:`_items_by_image` or one it
    just wrote)."""

    id: int
    state: str
    reason: str
    suggested_label: str | None
    score: float
    detail: dict[str, Any] | None


def _merged(open_item: Any, new: dict[str, Any]) -> dict[str, Any]:
    """Return the values an open item takes when ``new`` is found for its image."""
    old_conflict = open_item.reason == LABEL_CONFLICT
    if old_conflict == (new["reason"] == LABEL_CONFLICT):
        return new
    score = max(float(open_item.score), new["score"])
    old_detail = open_item.detail or {}
    if old_conflict:
        # Deduplication's finding says more than a score: it keeps its reason, suggestion and
        # group, and rises to the score when that is higher.
        return {
            "reason": LABEL_CONFLICT,
            "suggested_label": open_item.suggested_label,
            "score": score,
            "detail": {**new["detail"], **old_detail},
        }
    return {**new, "score": score, "detail": {**old_detail, **new["detail"]}}


def latest_score_run(conn: Connection) -> int | None:
    """Return the newest run id that stored label scores, or None."""
    return conn.execute(sa.select(sa.func.max(t.label_scores.c.run_id))).scalar_one_or_none()


def build_queue(catalog: Catalog, config: QueueConfig | None = None) -> QueueBuild:
    """Queue the suspects of a scoring run (default: the newest) and return a summary.

    Only images still active and still carrying the label they were scored with are queued,
    through :func:`enqueue`. Raises :class:`ReviewError` when nothing has been scored yet.
    """
    config = config or QueueConfig()
    with catalog.atomic() as conn:
        run_id = config.run_id or latest_score_run(conn)
        if run_id is None:
            raise ReviewError("no label scores yet; run `carscout score` first")
        rows = conn.execute(
            sa.select(t.label_scores, t.images.c.label.label("current_label"))
            .join(t.images, t.images.c.id == t.label_scores.c.image_id)
            .where(
                t.label_scores.c.run_id == run_id,
                t.images.c.status == "active",
                t.images.c.label == t.label_scores.c.label,
            )
        ).all()
        findings = []
        for row in _select(rows, config):
            reason, suggested = reason_for(row.issue_score, row.outlier_score, row.suggested_label)
            if reason == WRONG_MODEL and suggested is None:
                suggested = _best_other(row.probabilities, row.label)
            detail = {
                "run_id": run_id,
                "issue_score": row.issue_score,
                "outlier_score": row.outlier_score,
                "feature_source": row.feature_source,
                "model": row.model,
                "probabilities": row.probabilities,
            }
            score = queue_score(row.issue_score)
            findings.append(Finding(row.image_id, reason, suggested, score, detail))
        summary = enqueue(conn, findings, requeue=config.requeue)
    summary.run_id = run_id
    return summary


def _select(rows: list[Any], config: QueueConfig) -> list[Any]:
    if config.threshold is not None:
        return [r for r in rows if queue_score(r.issue_score) >= config.threshold]
    by_label: dict[str, list[Any]] = {}
    for row in rows:
        by_label.setdefault(row.label, []).append(row)
    chosen = []
    for label_rows in by_label.values():
        picked = select_top(
            [r.issue_score for r in label_rows],
            [r.outlier_score for r in label_rows],
            math.ceil(config.budget * len(label_rows)),  # type: ignore[operator]
            config.outlier_share,
        )
        chosen.extend(label_rows[i] for i in picked)
    return chosen


def _best_other(probabilities: dict[str, float], label: str) -> str | None:
    others = {c: p for c, p in (probabilities or {}).items() if c != label}
    return max(others, key=others.__getitem__) if others else None


def _items_by_image(conn: Connection, image_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Return image id -> state -> its newest review item (id, state, reason, suggestion,
    score, detail)."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(image_ids), 500):
        for item in conn.execute(
            sa.select(
                t.review_items.c.id,
                t.review_items.c.image_id,
                t.review_items.c.state,
                t.review_items.c.reason,
                t.review_items.c.suggested_label,
                t.review_items.c.score,
                t.review_items.c.detail,
            )
            .where(t.review_items.c.image_id.in_(image_ids[start : start + 500]))
            .order_by(t.review_items.c.id)
        ):
            found.setdefault(item.image_id, {})[item.state] = item
    return found


# --- reading the queue ------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    """One queued image with what a reviewer needs to see.

    ``label``/``status`` are the image's current ones; ``title`` is its listing's title (or
    None for an imported photo).
    """

    id: int
    image_id: int
    reason: str
    suggested_label: str | None
    score: float
    state: str
    label: str
    status: str
    store_path: str
    title: str | None
    detail: dict[str, Any]


def _item_query() -> sa.Select:
    return (
        sa.select(
            t.review_items.c.id,
            t.review_items.c.image_id,
            t.review_items.c.reason,
            t.review_items.c.suggested_label,
            t.review_items.c.score,
            t.review_items.c.state,
            t.review_items.c.detail,
            t.images.c.label,
            t.images.c.status,
            t.images.c.store_path,
            t.listings.c.title,
        )
        .join(t.images, t.images.c.id == t.review_items.c.image_id)
        .outerjoin(t.listings, t.listings.c.id == t.images.c.listing_id)
    )


def _to_item(row: Any) -> ReviewItem:
    return ReviewItem(
        id=row.id,
        image_id=row.image_id,
        reason=row.reason,
        suggested_label=row.suggested_label,
        score=float(row.score),
        state=row.state,
        label=row.label,
        status=row.status,
        store_path=row.store_path,
        title=row.title,
        detail=row.detail or {},
    )


def queue_items(conn: Connection, include_skipped: bool = True) -> list[ReviewItem]:
    """Return the open items in review order: pending by score (highest first), then skipped."""
    states = ["pending", "skipped"] if include_skipped else ["pending"]
    rows = conn.execute(
        _item_query()
        .where(t.review_items.c.state.in_(states))
        .order_by(
            sa.case((t.review_items.c.state == "pending", 0), else_=1),
            t.review_items.c.score.desc(),
            t.review_items.c.id,
        )
    ).all()
    return [_to_item(r) for r in rows]


def get_item(conn: Connection, item_id: int) -> ReviewItem | None:
    """Return the item with ``item_id`` (any state), or None."""
    row = conn.execute(_item_query().where(t.review_items.c.id == item_id)).first()
    return _to_item(row) if row is not None else None


def closest_label(label: str, labels: Sequence[str]) -> str | None:
    """Return the label of ``labels`` nearest to ``label`` in spelling (``swfit`` → ``swift``),
    or None when none is close."""
    import difflib

    lowered = {known.lower(): known for known in labels}
    if label.lower() in lowered:
        return lowered[label.lower()]
    close = difflib.get_close_matches(label.lower(), list(lowered), n=1, cutoff=0.5)
    return lowered[close[0]] if close else None


def known_labels(conn: Connection) -> list[str]:
    """Return every label an active image carries, most common first."""
    rows = conn.execute(
        sa.select(t.images.c.label, sa.func.count().label("n"))
        .where(t.images.c.status == "active")
        .group_by(t.images.c.label)
        .order_by(sa.desc("n"), t.images.c.label)
    )
    return [r.label for r in rows]


def queue_progress(conn: Connection) -> dict[str, int]:
    """Return review progress counts, e.g.
    ``{"pending": 40, "decided": 12, "skipped": 1, "pending/wrong model?": 30, ...}``."""
    progress = {"pending": 0, "decided": 0, "skipped": 0}
    rows = conn.execute(
        sa.select(t.review_items.c.reason, t.review_items.c.state, sa.func.count()).group_by(
            t.review_items.c.reason, t.review_items.c.state
        )
    )
    for reason, state, count in rows:
        progress[state] = progress.get(state, 0) + count
        progress[f"{state}/{reason}"] = count
    return progress
