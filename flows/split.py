"""The ``split`` flow: create or grow the leakage-free split, test set fixed.

``fit_to_collected``: a new split given neither sizes nor fractions is sized to fit the photos
collected (:func:`curation.splits.plan.fit_sizes`) — what ``carscout run --site`` asks for.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation.splits.build import build_split
from curation.splits.plan import FULL_SIZES, SUBSETS, fit_sizes
from curation.splits.stored import latest_split, usable_labels
from flows.progress import reporter, retry_unless_user_error
from flows.reporting import markdown_table, publish
from pipeline.settings import Settings
from pipeline.workspace import Workspace


def fitted_sizes(ws: Workspace, include_pending: bool) -> tuple[tuple[int, int, int], str]:
    """Return sizes fitted to ``ws``'s usable photos and a one-line note saying how.

    Raises :class:`pipeline.errors.CarscoutError` when some label is too small to split.
    """
    with ws.catalog.reading() as conn:
        available = dict(Counter(usable_labels(conn, include_pending).values()))
    sizes = fit_sizes(available)
    counts = ", ".join(f"{label} {available[label]}" for label in sorted(available))
    full = ",".join(map(str, FULL_SIZES))
    if tuple(sizes) == FULL_SIZES:
        return sizes, f"split sizes {full} (usable photos: {counts})"
    return sizes, (
        f"split sizes {','.join(map(str, sizes))}: {full} scaled down to the usable photos "
        f"({counts}); --sizes or --fractions choose others"
    )


@task(
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_unless_user_error,
    cache_policy=NO_CACHE,
)
def assign_split(
    settings: Settings,
    name: str = "default",
    sizes: list[int] | None = None,
    fractions: list[float] | None = None,
    seed: int | None = None,
    reshuffle: bool = False,
    fit_to_collected: bool = False,
    include_pending: bool | None = None,
) -> dict[str, Any]:
    """Run :func:`curation.splits.build.build_split`; return its result as plain data.

    With ``fit_to_collected``, a new split with no ``sizes`` or ``fractions`` gets
    :func:`fitted_sizes` (the stage display says which). ``include_pending``: also use photos
    waiting for review (None keeps a grown split's own setting, False for a new one).
    """
    display = reporter()
    display.stage("split")
    with Workspace.open(settings) as ws:
        if fit_to_collected and sizes is None and fractions is None:
            with ws.catalog.reading() as conn:
                creating = reshuffle or latest_split(conn, name) is None
            if creating:
                fitted, note = fitted_sizes(ws, bool(include_pending))
                sizes = list(fitted)
                display.note(note)
        result = build_split(
            ws,
            name=name,
            sizes=sizes,
            fractions=fractions,
            seed=seed,
            reshuffle=reshuffle,
            include_pending=include_pending,
        )
    display.finish(
        f"{result.name} v{result.version}: "
        + ", ".join(f"{s} {result.total(s)}" for s in SUBSETS)
        + f" ({result.newly_placed} placed now)"
    )
    return result.summary()


@flow(name="split", log_prints=True)
def split_flow(
    settings: Settings,
    name: str = "default",
    sizes: list[int] | None = None,
    fractions: list[float] | None = None,
    seed: int | None = None,
    reshuffle: bool = False,
    fit_to_collected: bool = False,
    include_pending: bool | None = None,
) -> dict[str, Any]:
    """Create (first run, or ``reshuffle``) or grow the split ``name``; return its counts.

    ``fit_to_collected`` and ``include_pending`` as in :func:`assign_split`."""
    result = assign_split(
        settings, name, sizes, fractions, seed, reshuffle, fit_to_collected, include_pending
    )
    labels = sorted({label for counts in result["counts"].values() for label in counts})
    rows = [
        (subset, *(result["counts"].get(subset, {}).get(label, 0) for label in labels))
        for subset in SUBSETS
    ]
    publish(
        "split-summary",
        f"Split {result['name']} v{result['version']}",
        markdown_table(["subset", *labels], rows)
        + f"\n\nnewly placed: {result['newly_placed']}, withheld (linked to test): "
        f"{result['withheld']}, no longer usable: {result['stale']}",
    )
    return result
