"""``--features auto`` without ImageNet weights: the source chosen on the user's own photos.

No offline source wins everywhere: the small CNN trained on the photos finds wrong photos on
the demo site's drawings far better than shape features (recall 0.94 against 0.53), shape
features do better on real photos of two body shapes (``../shared/realcars-dev``: 0.64 against
0.48). Which one fits a catalog is measured on the catalog itself, without any truth: both
sources' out-of-fold probabilities are scored against the *listed* labels by log-loss, and so is
a stacked blend of them (a logistic regression on both sources' log-probabilities, itself fit
out of fold). The lowest log-loss is used. Most listed labels are right, so the source that
predicts them best out of fold is the one that sees the photos best; wrong labels only add the
same noise to every candidate.

Measured (``benchmarks/label_issues.py``; tuned on demo seed 5, realcars-dev is a development
set): on realcars-dev the stacked blend wins (log-loss 0.323 against shape 0.366 and CNN
0.463), on the demo site the CNN and the blend are within 0.001 (seed 5: blend 0.2258 against
CNN 0.2265; seed 7: the CNN) and shape far behind (0.38), so the drawn site keeps its CNN
queue and real photos get the shape features' strength.

Also tried (one-off runs on the cached CNN and shape outputs of ``benchmarks/label_issues.py``,
12 % per label, realcars-dev): a linear CNN/shape mix weighted by log-loss (it picks shape alone:
recall 0.640, AUROC 0.864); a third stacked input, the share of a photo's k nearest neighbours in
shape space listed under another label (recall 0.632–0.664, no steady gain); outlier scores
alone as the open-set signal — shape PCA-64 Mahalanobis per label (AUROC 0.708, other body types
14/63), CNN embeddings' 5 nearest (0.680, 13/63), fastdup's embeddings as a reference (0.694,
15/63). Against "right", every outlier score separated other body types at AUROC 0.53–0.69: a
convertible listed as a coupe looks like a coupe to all of them.

:func:`choose_offline` returns the chosen :class:`Scores` and a :class:`SourceChoice` whose
``line`` says what was chosen and why; it is stored with the scoring run. The chosen issue score
also takes in how unlike its label's other photos a photo is (:data:`OPEN_SET_WEIGHT`): the
open-set part, for photos that belong to no label.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from curation.labels.config import Scores
from curation.labels.fold_tasks import out_of_fold
from curation.labels.probabilities import label_issue_scores

STACK_MODEL_NAME = "sklearn:LogisticRegression(stacked log-probabilities)"
# The open-set part of auto's issue score: issue + OPEN_SET_WEIGHT × log(outlier ratio), so a
# photo unlike the rest of its label (an interior, a van among pickups) rises in the queue even
# where the classifier, which only knows the listed labels, calls it one of them. Tuned on demo
# seed 5 with the stacked blend (recall at 12 %: 0.937 without, 0.966 / 0.970 / 0.972 / 0.963
# at 0.3 / 0.4 / 0.6 / 0.8); on realcars-dev 0.4 moves recall 0.648 → 0.664, AUROC 0.853 → 0.876.
OPEN_SET_WEIGHT = 0.4
# Shape features hold 3,152 float32 values of each photo and of its mirror image (25 KB a
# photo): above this many photos auto keeps to the offline CNN, whose memory stays flat.
AUTO_SHAPE_MAX_ROWS = 200_000


def cnn_only_line(photos: int) -> str:
    """Return auto's line for a catalog too large to weigh shape features on."""
    gigabytes = photos * 2 * 3152 * 4 / 1e9
    return (
        f"auto kept to the offline CNN: {photos:,} photos is above {AUTO_SHAPE_MAX_ROWS:,}, where "
        f"shape features would take {gigabytes:.0f} GB of memory (--features shape forces them)"
    )


# Probabilities are clipped here before logs: a confident mistake costs a bounded amount, so
# one photo cannot decide the choice.
CLIP = 1e-4


@dataclass(frozen=True)
class SourceChoice:
    """What ``auto`` chose among its offline candidates: ``chosen`` (``offline``, ``shape`` or
    ``stacked``), each candidate's out-of-fold ``log_loss`` against the listed labels, and
    ``line``, one sentence saying which and why."""

    chosen: str
    log_loss: dict[str, float] = field(default_factory=dict)
    line: str = ""


def out_of_fold_log_loss(probabilities: np.ndarray, labels: list[str], classes: list[str]) -> float:
    """Return the mean negative log of each photo's out-of-fold probability of its listed label
    (clipped at :data:`CLIP`): lower means the source predicts the listed labels better."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    own = probabilities[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(own, CLIP, 1.0))))


def stacked_probabilities(
    parts: list[np.ndarray], labels: list[str], classes: list[str], folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Return ``(N, C)`` out-of-fold probabilities of a logistic regression on the sources'
    log-probabilities side by side: each photo's from a model fit on the other folds' photos
    (their listed labels), so the blend's weights are learnt without seeing it."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    x = np.hstack([np.log(np.clip(p, CLIP, 1.0)) for p in parts])
    # Here: a few columns per photo, fit in a blink.
    found = out_of_fold(
        partial(_stacked_fold, x, y, len(classes)), y, len(classes), folds, seed, here=True
    )
    return found.probabilities


def _stacked_fold(
    x: np.ndarray, y: np.ndarray, classes: int, rows: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Return one fold's held-out probabilities (``rows`` = train and held-out rows)."""
    from sklearn.linear_model import LogisticRegression

    train, held_out = rows
    model = LogisticRegression(max_iter=2000).fit(x[train], y[train])
    out = np.zeros((len(held_out), classes))
    # A training fold may miss a class: its column stays 0 for these rows.
    out[:, model.classes_] = model.predict_proba(x[held_out])
    return out


def choose_offline(
    cnn: Scores, shape: Scores, folds: int = 5, seed: int = 0
) -> tuple[Scores, SourceChoice]:
    """Return the scores with the lowest out-of-fold log-loss against the listed labels among
    the CNN's, the shape features' and their stacked blend, with the :class:`SourceChoice`.

    Both must score the same photos with the same labels. The stacked scores keep the CNN's
    outlier scores (as ``combined`` does); the chosen scores' issue takes in their outlier
    ratio (:func:`with_open_set`).
    """
    if cnn.classes != shape.classes or cnn.labels != shape.labels:
        raise ValueError("auto needs both sources scored on the same photos and labels")
    labels, classes = cnn.labels, cnn.classes
    stacked = stacked_probabilities(
        [cnn.probabilities, shape.probabilities], labels, classes, folds, seed
    )
    issue, suggested = label_issue_scores(stacked, labels, classes)
    blend = Scores(
        labels,
        classes,
        stacked,
        issue,
        cnn.outlier,
        suggested,
        f"stacked({cnn.feature_source}+{shape.feature_source})",
        STACK_MODEL_NAME,
    )
    candidates = {"offline": cnn, "shape": shape, "stacked": blend}
    losses = {
        name: out_of_fold_log_loss(s.probabilities, labels, classes)
        for name, s in candidates.items()
    }
    chosen = min(losses, key=lambda name: (losses[name], name))
    scores = with_open_set(candidates[chosen])
    names = {"offline": "offline CNN", "shape": "shape features", "stacked": "stacked blend"}
    others = ", ".join(f"{names[n]} {losses[n]:.3f}" for n in losses if n != chosen)
    line = (
        f"auto chose the {names[chosen]}: out-of-fold log-loss against the listed labels "
        f"{losses[chosen]:.3f}, the lowest ({others}; no ImageNet weights)"
    )
    return scores, SourceChoice(chosen, losses, line)


def with_open_set(scores: Scores, weight: float = OPEN_SET_WEIGHT) -> Scores:
    """Return ``scores`` with ``issue`` raised (or lowered) by ``weight × log(outlier ratio)``,
    clipped to [0, 1]: a typical photo of its label (ratio 1) keeps its issue score."""
    lifted = scores.issue + weight * np.log(np.maximum(scores.outlier, 1e-6))
    return replace(scores, issue=np.clip(lifted, 0.0, 1.0))
