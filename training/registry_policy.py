"""Whether a challenger becomes champion: the decision and why, without writing anything.

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

from sqlalchemy.engine import Connection

from pipeline.errors import CarscoutError
from training.registry import ModelRecord, list_models, short_fingerprint
from training.registry_stats import ALPHA, PairedTest, paired_test


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
