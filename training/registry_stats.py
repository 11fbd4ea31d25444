"""The paired test on a shared test set: exact McNemar on the photos only one of two runs got
right, and the level (:data:`ALPHA`) below which a challenger counts as worse."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import CarscoutError

# The significance level of the test-set guard: a challenger worse on test with p below this
# is not promoted, whatever its validation accuracy.
ALPHA = 0.05


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
