"""``collect_and_retrain``: new photos in, a challenger trained, promoted only if better.

Scrape new listings, curate the new photos against everything already collected, grow the
split (the test set stays the same), train a challenger, score it and the current champion on
that same test set, and promote the challenger only if it wins.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prefect import flow

from curation.review.queue import queue_progress
from curation.splits.stored import split_versions
from flows.curate import curate_flow
from flows.reporting import markdown_table, publish
from flows.scrape import scrape_flow
from flows.split import split_flow
from flows.train import evaluate_flow, train_flow
from pipeline.settings import Settings
from pipeline.workspace import Workspace
from training.config import TrainConfig
from training.registry import current_champion, list_models, promote_if_better


def pending_reviews(settings: Settings) -> int:
    """Return how many photos wait in the review queue (left out of the split until decided)."""
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        progress = queue_progress(conn)
    return progress["pending"] + progress["skipped"]


@flow(name="collect-and-retrain", log_prints=True)
def collect_and_retrain(
    settings: Settings,
    site: str,
    labels: list[str],
    train_config: TrainConfig,
    base_url: str | None = None,
    max_listings: int | None = None,
    max_pages: int | None = None,
    split_name: str = "default",
    split_sizes: list[int] | None = None,
    split_fractions: list[float] | None = None,
    split_seed: int = 0,
    review_budget: float = 0.12,
    features: str = "auto",
) -> dict[str, Any]:
    """Run the whole loop once and return a report dict.

    ``split_sizes``/``split_fractions``/``split_seed`` only apply when the split does not exist
    yet; afterwards the stored split grows and its test set stays as it is. ``features`` is the
    label-scoring feature source (see :func:`flows.curate.curate_flow`). The report holds the
    stage results, ``promoted`` (bool), the ``champion`` run name and ``pending_review``.
    """
    scraped = scrape_flow(settings, site, labels, base_url, max_listings, max_pages)
    curated = curate_flow(settings, review_budget=review_budget, features=features)
    with Workspace.open(settings) as ws:
        first_split = not split_versions(ws, split_name)
    split = split_flow(
        settings,
        split_name,
        sizes=split_sizes if first_split else None,
        fractions=split_fractions if first_split else None,
        seed=split_seed if first_split else None,
    )
    config = replace(
        train_config, data=replace(train_config.data, kind="catalog", split_name=split_name)
    )
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        champion = current_champion(conn)
    trained = train_flow(settings, config)
    challenger_metrics = evaluate_flow(settings, trained["run_dir"])
    if champion is not None:
        # Same test set (it never changes without --reshuffle), but score the champion again so
        # both numbers come from the same code and data.
        evaluate_flow(settings, champion.run_dir)
    with Workspace.open(settings) as ws:
        with ws.catalog.atomic() as conn:
            promoted = promote_if_better(conn, int(trained["run_id"]))
        with ws.catalog.reading() as conn:
            models = list_models(conn)
            now_champion = current_champion(conn)
    waiting = pending_reviews(settings)
    publish(
        "models",
        "Champion and challengers",
        markdown_table(
            ["run", "model", "role", "test accuracy", "validation accuracy"],
            [(m.name, m.model, m.role, m.test_accuracy, m.validation_accuracy) for m in models],
        )
        + f"\n\n{waiting} photos wait for review: run `carscout review`.",
    )
    return {
        "scrape": scraped,
        "curate": curated,
        "split": split,
        "train": trained,
        "test_accuracy": challenger_metrics["accuracy"],
        "promoted": promoted,
        "champion": now_champion.name if now_champion else None,
        "champion_run_dir": now_champion.run_dir if now_champion else None,
        "pending_review": waiting,
    }
