"""The ``curate`` flow: hash new photos, remove duplicates, score labels, fill the review queue."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation.dedup.run import DedupConfig, run_dedup
from curation.labels.issues import ScoreConfig, score_catalog
from curation.review.queue import QueueConfig, build_queue
from flows.progress import reporter
from flows.reporting import markdown_table, publish
from pipeline.settings import Settings
from pipeline.workspace import Workspace


@task(retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def remove_duplicates(settings: Settings, threshold: int | None = None) -> dict[str, Any]:
    """Hash the photos that have no hash yet and resolve duplicate groups; return counts."""
    config = DedupConfig() if threshold is None else DedupConfig(threshold=threshold)
    display = reporter()
    display.stage("dedup")
    hashed = 0

    def advance(count: int) -> None:
        nonlocal hashed
        hashed += count
        display.update(hashed, None, "hashed")

    with Workspace.open(settings) as ws:
        summary = run_dedup(ws.catalog, ws.store, config, progress=advance)
    display.finish(
        f"{len(summary.groups)} groups, {summary.marked} marked duplicate, "
        f"{summary.conflicts} label conflicts"
    )
    return {
        "hashed": summary.hashed,
        "hash_failures": summary.hash_failures,
        "searched_new": summary.searched_new,
        "pairs": summary.pairs,
        "groups": len(summary.groups),
        "marked_duplicate": summary.marked,
        "label_conflicts": summary.conflicts,
    }


@task(retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def score_and_queue(
    settings: Settings, review_budget: float, features: str = "auto"
) -> dict[str, Any]:
    """Score every active photo's label and queue the suspects; return counts.

    ``features`` is the feature source (``auto``, ``backbone``, ``offline`` or ``handmade``).
    """
    display = reporter()
    display.stage("score")
    with Workspace.open(settings) as ws:
        scored = score_catalog(ws, ScoreConfig(source=features), progress=display.update)
        queued = build_queue(ws.catalog, QueueConfig(budget=review_budget, run_id=scored.run_id))
    display.finish(
        f"{sum(scored.images.values())} photos scored ({scored.feature_source} features), "
        f"{queued.added} queued for review"
    )
    return {
        "feature_source": scored.feature_source,
        "scored": scored.images,
        "queued_added": queued.added,
        "queued_refreshed": queued.refreshed,
        "already_decided": queued.already_decided,
        "by_reason": queued.by_reason,
    }


@flow(name="curate", log_prints=True)
def curate_flow(
    settings: Settings,
    threshold: int | None = None,
    review_budget: float = 0.12,
    features: str = "auto",
) -> dict[str, Any]:
    """Run dedup, then label scoring and the review queue; return both summaries."""
    dedup = remove_duplicates(settings, threshold)
    review = score_and_queue(settings, review_budget, features)
    publish(
        "curate-summary",
        "Curation",
        markdown_table(["step", "result"], [(k, v) for k, v in dedup.items()])
        + "\n\n"
        + markdown_table(["step", "result"], [(k, v) for k, v in review.items()]),
    )
    return {"dedup": dedup, "review": review}
