"""The ``curate`` flow: hash new photos, remove duplicates, score labels, fill the review queue."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation.label_issues import ScoreConfig, score_catalog
from curation.review_queue import QueueConfig, build_queue
from flows.reporting import markdown_table, publish
from pipeline.settings import Settings
from pipeline.workspace import Workspace


@task(retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def remove_duplicates(settings: Settings, threshold: int | None = None) -> dict[str, Any]:
    """Hash the photos that have no hash yet and resolve duplicate groups; return the summary."""
    from curation.dedup import run_dedup

    with Workspace.open(settings) as ws:
        return run_dedup(ws, threshold=threshold).as_dict()


@task(retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def score_and_queue(settings: Settings, review_budget: float) -> dict[str, Any]:
    """Score every active photo's label and queue the suspects; return counts."""
    with Workspace.open(settings) as ws:
        scored = score_catalog(ws, ScoreConfig())
        queued = build_queue(ws.catalog, QueueConfig(budget=review_budget, run_id=scored.run_id))
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
    settings: Settings, threshold: int | None = None, review_budget: float = 0.12
) -> dict[str, Any]:
    """Run dedup, then label scoring and the review queue; return both summaries."""
    dedup = remove_duplicates(settings, threshold)
    review = score_and_queue(settings, review_budget)
    publish(
        "curate-summary",
        "Curation",
        markdown_table(["step", "result"], [(k, v) for k, v in dedup.items()])
        + "\n\n"
        + markdown_table(["step", "result"], [(k, v) for k, v in review.items()]),
    )
    return {"dedup": dedup, "review": review}
