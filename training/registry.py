"""The model registry: which trained model is the one to use, kept in the catalog.

Reads every training run with its metrics (:func:`list_models`, :func:`current_champion`) and
changes roles (:func:`promote`); :mod:`training.records` writes the runs themselves. Roles in
``training_runs.role``: ``champion`` (at most one), ``challenger`` (trained, not promoted) and
``retired`` (a former champion).

The rules of promotion (:func:`decide`):

* the choice is made on **validation**: the challenger must beat the champion's validation
  accuracy (a tie is not a win), measured on the same validation photos when the caller
  passes the champion's figure on them (``collect-and-retrain`` does);
* the test set only guards: when both runs were scored on the same test set (same
  fingerprint), a paired exact McNemar test on the identical photos must not find the
  challenger significantly worse (p < :data:`ALPHA`). Runs scored on different test sets
  (another split version, or a run evaluated before test sets had fingerprints) are not
  compared on test at all, and the decision says so;
* a run that failed or ended at chance level (:func:`chance_level`) is never promoted; nor is
  a run never evaluated on its test set.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline import schema as t
from pipeline.errors import CarscoutError

# A run whose validation accuracy is at most this far above the majority class's share learnt
# nothing worth keeping: predicting the majority class everywhere scores the same.
CHANCE_MARGIN = 0.02
# Below this many validation photos one photo moves accuracy by 5+ points: too few to tell a
# model at chance from an unlucky one, so the guard does not judge them.
CHANCE_MIN_PHOTOS = 20
# The significance level of the test-set guard: a challenger worse on test with p below this
# is not promoted, whatever its validation accuracy.
ALPHA = 0.05


def chance_level(accuracy: float, majority_share: float, photos: int) -> bool:
    """Return True when ``accuracy`` on ``photos`` validation photos is within
    :data:`CHANCE_MARGIN` of (or below) ``majority_share``, the share of the commonest class;
    False with fewer than :data:`CHANCE_MIN_PHOTOS` photos."""
    return photos >= CHANCE_MIN_PHOTOS and accuracy <= majority_share + CHANCE_MARGIN


def chance_level_hint(accuracy: float, majority_share: float) -> str:
    """Return the one-line explanation of a chance-level run and what to try instead."""
    return (
        f"training failed: validation accuracy {accuracy:.3f} is within "
        f"{CHANCE_MARGIN * 100:.0f} points of the majority class share {majority_share:.3f}, "
        "so the model learnt nothing; try more --epochs, a larger --image-size, a lower "
        "--learning-rate or --model baseline_aug, and check the labels with `carscout review`"
    )


def short_fingerprint(fingerprint: str | None) -> str:
    """Return the first 8 characters of a test-set fingerprint, or ``-`` when unknown."""
    return fingerprint[:8] if fingerprint else "-"


@dataclass(frozen=True)
class ModelRecord:
    """One trained model with its metrics (None where never measured).

    ``test_fingerprint`` and ``test_count`` describe the test set its test metrics were
    measured on, ``test_looks`` how many times that test set was looked at; ``split_name`` and
    ``split_version`` the split version it was trained on.
    """

    run_id: int
    name: str
    model: str
    role: str
    status: str
    run_dir: str
    split_id: int | None
    test_accuracy: float | None
    test_loss: float | None
    validation_accuracy: float | None
    validation_majority_share: float | None = None
    validation_count: float | None = None
    split_name: str | None = None
    split_version: int | None = None
    test_fingerprint: str | None = None
    test_count: int | None = None
    test_looks: int = 0

    @property
    def at_chance(self) -> bool:
        """True when the run failed or its validation accuracy is at chance level."""
        if self.status == "failed":
            return True
        if None in (self.validation_accuracy, self.validation_majority_share):
            return False
        return chance_level(
            float(self.validation_accuracy),  # type: ignore[arg-type]
            float(self.validation_majority_share),  # type: ignore[arg-type]
            int(self.validation_count or CHANCE_MIN_PHOTOS),
        )

    @property
    def split(self) -> str:
        """Return ``name vN`` of the split version the run was trained on, or ``-``."""
        return f"{self.split_name} v{self.split_version}" if self.split_name else "-"


def _metrics(conn: Connection) -> dict[tuple[int, str, str], float]:
    rows = conn.execute(
        sa.select(
            t.run_metrics.c.run_id,
            t.run_metrics.c.subset,
            t.run_metrics.c.name,
            t.run_metrics.c.value,
        ).where(
            t.run_metrics.c.subset.in_(("test", "validation")),
            t.run_metrics.c.name.in_(("accuracy", "loss", "majority_share", "count")),
        )
    )
    return {(int(r.run_id), r.subset, r.name): float(r.value) for r in rows}


def list_models(conn: Connection) -> list[ModelRecord]:
    """Return every training run, champion first, then newest first."""
    rows = conn.execute(
        sa.select(t.training_runs, t.splits.c.name.label("split_name"), t.splits.c.version)
        .outerjoin(t.splits, t.splits.c.id == t.training_runs.c.split_id)
        .order_by(t.training_runs.c.id.desc())
    ).all()
    metrics = _metrics(conn)
    records = [
        ModelRecord(
            run_id=row.id,
            name=row.name,
            model=row.model,
            role=row.role,
            status=row.status,
            run_dir=row.run_dir,
            split_id=row.split_id,
            test_accuracy=metrics.get((row.id, "test", "accuracy")),
            test_loss=metrics.get((row.id, "test", "loss")),
            validation_accuracy=metrics.get((row.id, "validation", "accuracy")),
            validation_majority_share=metrics.get((row.id, "validation", "majority_share")),
            validation_count=metrics.get((row.id, "validation", "count")),
            split_name=row.split_name,
            split_version=row.version,
            test_fingerprint=row.test_fingerprint,
            test_count=row.test_count,
            test_looks=int(row.test_looks or 0),
        )
        for row in rows
    ]
    return sorted(records, key=lambda r: r.role != "champion")


def current_champion(conn: Connection) -> ModelRecord | None:
    """Return the champion, or None before the first promotion."""
    return next((r for r in list_models(conn) if r.role == "champion"), None)


def mcnemar_p(challenger_only: int, champion_only: int) -> float:
    """Return the two-sided exact McNemar p-value of a paired comparison.

    ``challenger_only``: photos only the challenger got right; ``champion_only``: photos only
    the champion got right (photos both or neither got right carry no information). Under the
    hypothesis of equal accuracy each such discordant photo is a fair coin, so the p-value is
    the exact binomial test of ``champion_only`` successes in all discordant photos at 0.5;
    1.0 when there is none.
    """
    from scipy.stats import binomtest

    discordant = challenger_only + champion_only
    if discordant == 0:
        return 1.0
    return float(binomtest(champion_only, discordant, 0.5, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class PairedTest:
    """Two runs scored on the identical test photos, photo by photo."""

    photos: int
    challenger_correct: int
    champion_correct: int
    challenger_only: int
    champion_only: int
    p_value: float

    @property
    def significantly_worse(self) -> bool:
        """True when the challenger got fewer photos right and McNemar's p < :data:`ALPHA`."""
        return self.champion_only > self.challenger_only and self.p_value < ALPHA

    def describe(self) -> str:
        """Return e.g. ``test on the same 47 photos: 0.745 vs 0.702, only challenger right 4,
        only champion right 2, McNemar p = 0.688``."""
        return (
            f"test on the same {self.photos} photos: "
            f"{self.challenger_correct / self.photos:.3f} vs "
            f"{self.champion_correct / self.photos:.3f}, only challenger right "
            f"{self.challenger_only}, only champion right {self.champion_only}, "
            f"McNemar p = {self.p_value:.3g}"
        )


def paired_test(challenger_correct: list[bool], champion_correct: list[bool]) -> PairedTest:
    """Return the :class:`PairedTest` of two runs' per-photo correctness on the same photos
    (same order)."""
    if len(challenger_correct) != len(champion_correct) or not challenger_correct:
        raise CarscoutError("a paired test needs both runs' results on the same photos")
    pairs = list(zip(challenger_correct, champion_correct, strict=True))
    challenger_only = sum(1 for a, b in pairs if a and not b)
    champion_only = sum(1 for a, b in pairs if b and not a)
    return PairedTest(
        photos=len(pairs),
        challenger_correct=sum(challenger_correct),
        champion_correct=sum(champion_correct),
        challenger_only=challenger_only,
        champion_only=champion_only,
        p_value=mcnemar_p(challenger_only, champion_only),
    )


def pair_on_test(challenger: ModelRecord, champion: ModelRecord) -> PairedTest | None:
    """Return the paired test of two runs from their ``predictions_test.csv``, or None when
    they were not scored on the same test set (fingerprints differ or are unknown) or a run's
    per-photo predictions are missing."""
    if (
        challenger.test_fingerprint is None
        or challenger.test_fingerprint != champion.test_fingerprint
    ):
        return None
    from training.run_folder import read_test_predictions

    ours = read_test_predictions(Path(challenger.run_dir))
    theirs = read_test_predictions(Path(champion.run_dir))
    if not ours or not theirs:
        return None
    # The same fingerprint means the same (photo, label) pairs; a photo listed twice is paired
    # occurrence by occurrence.
    by_key: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for p in theirs:
        by_key[(p.sha256, p.true)].append(p.correct)
    challenger_correct, champion_correct = [], []
    for p in ours:
        matches = by_key.get((p.sha256, p.true))
        if not matches:
            return None
        challenger_correct.append(p.correct)
        champion_correct.append(matches.pop())
    if any(by_key.values()):
        return None
    return paired_test(challenger_correct, champion_correct)


@dataclass(frozen=True)
class Decision:
    """Whether a challenger becomes champion, and why (see the module docstring)."""

    promoted: bool
    reason: str
    challenger: ModelRecord
    champion: ModelRecord | None
    champion_validation: float | None = None
    paired: PairedTest | None = None
    # The reason in a few words with its figures, e.g. "validation 0.8100 ≤ champion 0.8300".
    why: str = ""

    @property
    def p_value(self) -> float | None:
        """Return the paired McNemar p-value on the shared test set, or None when the two runs
        were not compared photo by photo."""
        return self.paired.p_value if self.paired is not None else None

    def verdict(self, *, hypothetical: bool = False) -> str:
        """Return the decision and why in one line, with the McNemar p-value when one was
        computed: e.g. ``kept: validation 0.8100 ≤ champion 0.8300; McNemar p=0.688`` or
        ``promoted: validation 0.8500 > champion 0.8300; McNemar p=0.5``.

        ``hypothetical`` words it for a decision that was not applied (``would be promoted:``
        / ``would not be promoted:``).
        """
        if hypothetical:
            head = "would be promoted" if self.promoted else "would not be promoted"
        else:
            head = "promoted" if self.promoted else "kept"
        line = f"{head}: {self.why or self.reason}"
        if self.paired is not None and "McNemar" not in line:
            line += f"; McNemar p={self.paired.p_value:.3g}"
        return line

    def describe(self) -> str:
        """Return the decision as a few sentences for a report: the reason, the validation
        figures compared, and the test comparison or why there is none."""
        parts = [("promoted: " if self.promoted else "not promoted: ") + self.reason]
        if self.champion is not None:
            parts.append(
                f"validation {_acc(self.challenger.validation_accuracy)} vs "
                f"{_acc(self.champion_validation)}"
            )
            if self.paired is not None:
                parts.append(self.paired.describe())
            else:
                parts.append(not_compared_on_test(self.challenger, self.champion))
        return "; ".join(parts)


def _acc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def not_compared_on_test(challenger: ModelRecord, champion: ModelRecord) -> str:
    """Return why two runs are not compared on test (different or unknown test sets)."""
    if challenger.test_fingerprint and challenger.test_fingerprint == champion.test_fingerprint:
        return "not compared on test: a run's per-photo test predictions are missing"
    return (
        "not compared on test: different test sets "
        f"({short_fingerprint(challenger.test_fingerprint)}, {challenger.test_count or '?'} "
        f"photos vs {short_fingerprint(champion.test_fingerprint)}, "
        f"{champion.test_count or '?'} photos)"
    )


def decide(
    challenger: ModelRecord,
    champion: ModelRecord | None,
    *,
    champion_validation: float | None = None,
    paired: PairedTest | None = None,
) -> Decision:
    """Return the :class:`Decision` on ``challenger`` against ``champion`` (pure: reads and
    writes nothing).

    ``champion_validation`` is the champion's validation accuracy on the challenger's
    validation photos (default: the champion's own recorded figure); ``paired`` the paired
    test on the shared test set, if the two were scored on one. Raises
    :class:`CarscoutError` when the challenger was never evaluated on its test set.
    """
    if champion is not None and champion.run_id == challenger.run_id:
        return Decision(False, "it is the champion already", challenger, None)
    if challenger.at_chance:
        return Decision(
            False, "the run failed or ended at chance level on validation", challenger, champion
        )
    if challenger.test_accuracy is None:
        raise CarscoutError(
            f"run {challenger.name} has no test metrics; run `carscout evaluate` on it first"
        )
    ours = challenger.validation_accuracy
    if ours is None:
        return Decision(False, "the run has no validation accuracy", challenger, champion)
    if champion is None:
        return Decision(
            True, "there is no champion yet", challenger, None, why="no champion before"
        )
    theirs = (
        champion_validation if champion_validation is not None else champion.validation_accuracy
    )
    if theirs is not None and ours <= theirs:
        return Decision(
            False,
            "no better on validation (a tie is not a win)"
            if ours == theirs
            else "worse on validation",
            challenger,
            champion,
            theirs,
            paired,
            why=f"validation {_acc(ours)} ≤ champion {_acc(theirs)}"
            + (" (a tie is not a win)" if ours == theirs else ""),
        )
    if paired is not None and paired.significantly_worse:
        return Decision(
            False,
            f"better on validation but significantly worse on test (p < {ALPHA})",
            challenger,
            champion,
            theirs,
            paired,
            why=f"significantly worse on test, McNemar p={paired.p_value:.3g} < {ALPHA} "
            f"(validation {_acc(ours)} > champion {_acc(theirs)})",
        )
    return Decision(
        True,
        "better on validation",
        challenger,
        champion,
        theirs,
        paired,
        why=f"validation {_acc(ours)} > champion {_acc(theirs)}"
        if theirs is not None
        else f"validation {_acc(ours)}, the champion has none",
    )


def judge(conn: Connection, run_id: int, *, champion_validation: float | None = None) -> Decision:
    """Return the :class:`Decision` on run ``run_id`` against the current champion without
    applying it (reads only); :func:`promote` applies it.

    The paired test comes from both runs' ``predictions_test.csv`` when they share a test
    fingerprint (:func:`pair_on_test`). Raises :class:`CarscoutError` when the run is not in
    the catalog or was never evaluated on its test set.
    """
    records = {r.run_id: r for r in list_models(conn)}
    if run_id not in records:
        raise CarscoutError(f"training run {run_id} is not in the catalog; see `carscout models`")
    challenger = records[run_id]
    champion = next((r for r in records.values() if r.role == "champion"), None)
    paired = None
    if champion is not None and champion.run_id != run_id:
        paired = pair_on_test(challenger, champion)
    return decide(challenger, champion, champion_validation=champion_validation, paired=paired)


def promotion_preview(conn: Connection, run_dir: Path) -> str | None:
    """Return one line saying whether the run in ``run_dir`` would be promoted over the current
    champion and why, on the recorded figures (nothing is applied); None when the run is not
    in the catalog. Raises :class:`CarscoutError` when it was never evaluated on its test set.
    """
    run_dir = Path(run_dir).resolve()
    record = next((r for r in list_models(conn) if Path(r.run_dir).resolve() == run_dir), None)
    if record is None:
        return None
    if record.role == "champion":
        return "Promotion: this run is the champion."
    decision = judge(conn, record.run_id)
    against = f" against the champion {decision.champion.name}" if decision.champion else ""
    return f"Promotion{against}: {decision.verdict(hypothetical=True)} (evaluate changes no role)."


def promote(conn: Connection, run_id: int, *, champion_validation: float | None = None) -> Decision:
    """Decide on run ``run_id`` against the current champion and apply the decision.

    The paired test comes from both runs' ``predictions_test.csv`` when they share a test
    fingerprint (:func:`pair_on_test`). On promotion the former champion becomes ``retired``;
    otherwise the run keeps the role ``challenger``. Returns the :class:`Decision`.
    """
    decision = judge(conn, run_id, champion_validation=champion_validation)
    if not decision.promoted:
        return decision
    champion = decision.champion
    if champion is not None:
        conn.execute(
            sa.update(t.training_runs)
            .where(t.training_runs.c.id == champion.run_id)
            .values(role="retired")
        )
    conn.execute(
        sa.update(t.training_runs).where(t.training_runs.c.id == run_id).values(role="champion")
    )
    return decision


def promote_if_better(conn: Connection, run_id: int) -> bool:
    """Apply :func:`promote` with the recorded figures; return True if run ``run_id`` became
    the champion."""
    return promote(conn, run_id).promoted
