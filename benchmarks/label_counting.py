"""The counting shared by ``benchmarks/label_issues.py`` and its peers: the same budget per
label, the same queue, the same table row for every method."""

from __future__ import annotations

import math

import numpy as np

from curation.review.queue import select_top


def top_share(scores: np.ndarray, labels: np.ndarray, share: float) -> np.ndarray:
    """Return a mask of the ``share`` highest scores within each label."""
    chosen = np.zeros(len(scores), bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        chosen[rows[np.argsort(-scores[rows], kind="stable")[: math.ceil(share * len(rows))]]] = (
            True
        )
    return chosen


def queue_mask(
    issue: np.ndarray, outlier: np.ndarray, labels: np.ndarray, share: float, outlier_share: float
) -> np.ndarray:
    """Return a mask of what the review queue's :func:`select_top` picks within each label."""
    chosen = np.zeros(len(issue), bool)
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        count = math.ceil(share * len(rows))
        picked = select_top(issue[rows].tolist(), outlier[rows].tolist(), count, outlier_share)
        chosen[rows[picked]] = True
    return chosen


def auroc(score: np.ndarray, wrong: np.ndarray) -> float:
    """Return the area under the ROC curve of ``score`` for finding ``wrong`` (ties count half)."""
    from scipy.stats import rankdata

    positives, negatives = int(wrong.sum()), int((~wrong).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[wrong].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def report(
    name: str,
    chosen: np.ndarray,
    kinds: np.ndarray,
    score: np.ndarray | None = None,
    queue: np.ndarray | None = None,
) -> list[str]:
    """Return a table row: queued, precision, recall, F1, AUROC of ``score`` (``-`` without
    one), the share of carscout's ``queue`` this row also flags (``-`` without one) and recall
    per wrong kind."""
    wrong = kinds != ""
    tp = int((chosen & wrong).sum())
    precision = tp / max(int(chosen.sum()), 1)
    recall = tp / max(int(wrong.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    per_kind = []
    for kind in sorted(set(kinds) - {""}):
        found, total = int((chosen & (kinds == kind)).sum()), int((kinds == kind).sum())
        per_kind.append(f"{found}/{total} = {found / max(total, 1):.2f}")
    overlap = "-"
    if queue is not None:
        overlap = f"{int((chosen & queue).sum()) / max(int(queue.sum()), 1):.1%}"
    return [
        name,
        str(int(chosen.sum())),
        f"{precision:.3f}",
        f"{recall:.3f}",
        f"{f1:.3f}",
        "-" if score is None else f"{auroc(score, wrong):.3f}",
        overlap,
        *per_kind,
    ]
