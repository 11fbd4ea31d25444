"""The ``split`` flow: create or grow the leakage-free split, test set fixed.

It carries a :class:`curation.splits.policy.SplitRequest` whole to
:func:`curation.splits.build.build_split`, where :func:`curation.splits.policy.decide_split`
decides create, grow or refuse (e.g. ``fit_to_collected``: a new split given neither sizes nor
fractions is sized to fit the photos collected — what ``carscout run --site`` asks for).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation.splits.build import build_split
from curation.splits.plan import SUBSETS
from curation.splits.policy import SplitRequest
from flows.cluster import stage_shards
from flows.progress import reporter, retry_unless_user_error
from flows.reporting import markdown_table, publish
from pipeline.settings import Settings
from pipeline.workspace import Workspace


@task(
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_unless_user_error,
    cache_policy=NO_CACHE,
)
def assign_split(settings: Settings, request: SplitRequest) -> dict[str, Any]:
    """Run :func:`curation.splits.build.build_split` on ``request``; return its result as plain
    data. Sizes fitted to the collected photos are named in the stage display."""
    display = reporter()
    display.stage("split")
    with Workspace.open(settings) as ws, stage_shards(settings, "pairs") as shards:
        result = build_split(ws, request, map_shards=shards)
    if result.note:
        display.note(result.note)
    display.finish(
        f"{result.name} v{result.version}: "
        + ", ".join(f"{s} {result.total(s)}" for s in SUBSETS)
        + f" ({result.newly_placed} placed now)"
    )
    return result.summary()


@flow(name="split", log_prints=True)
def split_flow(settings: Settings, request: SplitRequest) -> dict[str, Any]:
    """Create (first run, or ``reshuffle``) or grow the split ``request.name``; return its
    counts (:meth:`curation.splits.build.SplitResult.summary`)."""
    result = assign_split(settings, request)
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
