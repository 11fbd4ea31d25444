"""The ``curate`` flow: hash new photos, remove duplicates, score labels, fill the review queue."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation.dedup.run import DedupConfig, run_dedup
from curation.labels.fold_tasks import folds_on
from curation.labels.issues import ScoreConfig, score_catalog
from curation.labels.reuse import ReusedScoreRun
from curation.review.queue import LABEL_CONFLICT, QueueConfig, build_queue, queue_progress
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

    with Workspace.open(settings) as ws, stage_shards(settings, "hash") as shards:
        summary = run_dedup(ws.catalog, ws.store, config, progress=advance, map_shards=shards)
        with ws.catalog.reading() as conn:
            queue = queue_progress(conn)
        waiting = sum(queue.get(f"{state}/{LABEL_CONFLICT}", 0) for state in ("pending", "skipped"))
    # The queue's total, as `carscout status` shows it: a run finds conflicts among new photos
    # only, while earlier ones may still wait.
    display.finish(
        f"{len(summary.groups)} groups, {summary.marked} marked duplicate; label conflicts: "
        f"{summary.conflicts} new group(s), {waiting} photo(s) waiting for review"
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


@task(
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_unless_user_error,
    cache_policy=NO_CACHE,
)
def score_and_queue(
    settings: Settings, review_budget: float, features: str = "auto"
) -> dict[str, Any]:
    """Score every active photo's label and queue the suspects; return counts.

    ``features`` is the feature source (``auto``, ``backbone``, ``offline`` or ``handmade``).
    """
    display = reporter()
    display.stage("score")
    with (
        Workspace.open(settings) as ws,
        stage_shards(settings, "features", "folds") as (shards, folds),
        folds_on(folds),
    ):
        scored = score_catalog(
            ws, ScoreConfig(source=features), progress=display.update, map_shards=shards
        )
        queued = build_queue(ws.catalog, QueueConfig(budget=review_budget, run_id=scored.run_id))
        with ws.catalog.reading() as conn:
            queue = queue_progress(conn)
        waiting = queue["pending"] + queue["skipped"]
    done = (
        f"scores reused, nothing new since run {scored.run_id}"
        if isinstance(scored, ReusedScoreRun)
        else f"{sum(scored.images.values())} photos scored ({scored.feature_source} features)"
    )
    display.finish(f"{done}; waiting for review: {waiting} ({queued.added} newly queued)")
    if scored.choice:
        display.note(scored.choice)
    return {
        "feature_source": scored.feature_source,
        "feature_choice": scored.choice,
        "scores_reused": isinstance(scored, ReusedScoreRun),
        "waiting_for_review": waiting,
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
    """Run dedup, then label scoring and the review queue; return both summaries.

    With ``settings.cluster`` the hashing, the scoring's photo reading and its models' folds
    run as tasks on that Dask cluster (:func:`flows.cluster.stage_shards`); under a distributed
    task runner given from Python (``curate_flow.with_options(task_runner=DaskTaskRunner(
    ...))``) as Prefect tasks on its workers (see :mod:`flows.sharding`). The catalog is
    written here either way.
    """
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
