"""``collect_and_retrain``: new photos in, a challenger trained, promoted only if better.

Scrape new listings, curate the new photos against everything already collected, grow the
split (the test set stays the same, photo for photo: its fingerprint does not change), train a
challenger and evaluate it once on the fixed test set. The champion is measured again on the
challenger's validation photos (same split version), and the challenger is promoted only if it
wins on validation and is not significantly worse on the shared test set (paired McNemar, from
both runs' stored test predictions: the champion's test set is not looked at again). See
:mod:`training.registry` for the rules.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prefect import flow

from curation.review.queue import queue_progress
from flows.curate import curate_flow
from flows.progress import reporter
from flows.reporting import markdown_table, publish
from flows.requests import RetrainRequest
from flows.scrape import scrape_flow
from flows.split import split_flow
from flows.train import evaluate_flow, train_flow
from pipeline import schema as t
from pipeline.errors import CarscoutError
from pipeline.settings import Settings
from pipeline.workspace import Workspace
from training.config import TrainConfig
from training.registry import (
    ModelRecord,
    current_champion,
    list_models,
    short_fingerprint,
)


def pending_reviews(settings: Settings) -> int:
    """Return how many photos wait in the review queue (left out of the split until decided)."""
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        progress = queue_progress(conn)
    return progress["pending"] + progress["skipped"]


def check_labels_collected(settings: Settings, labels: list[str]) -> None:
    """Raise :class:`CarscoutError` naming each of ``labels`` with fewer than two active photos
    in the catalog (nothing to score, split or train on for it); return None otherwise."""
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        counts = dict(
            conn.execute(
                sa.select(t.images.c.label, sa.func.count())
                .where(t.images.c.status == "active")
                .group_by(t.images.c.label)
            ).all()
        )
    short = [f"{label} ({counts.get(label, 0)})" for label in labels if counts.get(label, 0) < 2]
    if short:
        raise CarscoutError(
            f"too few photos collected for {', '.join(short)}: each label needs 2 or more; "
            "check the site spec's selectors for those labels with `carscout scrape --site SPEC "
            "--labels LABEL`, and `carscout status` for what the catalog holds"
        )


def champion_on_validation(
    settings: Settings, champion: ModelRecord, config: TrainConfig, split_id: int | None
) -> float | None:
    """Return the champion's accuracy on the challenger's validation photos, or None when the
    two were trained on different split versions (the champion may have trained on those
    photos) or on other classes; the decision then uses the champion's recorded figure."""
    if split_id is None or champion.split_id != split_id:
        return None
    from training.data_sources import resolve_data
    from training.evaluation import validation_metrics

    with Workspace.open(settings) as ws:
        data = resolve_data(config.data, ws)
    if data.split_id != split_id:
        return None
    try:
        return float(validation_metrics(Path(champion.run_dir), data)["accuracy"])
    except CarscoutError:
        return None


@flow(name="collect-and-retrain", log_prints=True)
def collect_and_retrain(settings: Settings, request: RetrainRequest) -> dict[str, Any]:
    """Run the whole loop once, as ``request`` says, and return a report dict.

    The split grows as :func:`curation.splits.policy.decide_split` decides for
    ``request.split`` (by default its sizes, fractions and seed only size a new split;
    afterwards the stored split grows and its test set stays as it is). The report holds the
    stage results, ``promoted`` (bool), ``decision`` (why, with the validation figures and the
    paired test or why there is none), ``verdict`` (the decision and why in one line, with the
    McNemar p-value when computed), ``champion_validation`` (the champion's validation
    accuracy the challenger had to beat), ``p_value`` (None without a paired test), the
    challenger's ``test_fingerprint`` and ``test_count``, the ``champion`` run name and
    ``pending_review``.
    """
    scraped = scrape_flow(settings, request.scrape)
    try:
        check_labels_collected(settings, list(request.scrape.labels))
    except CarscoutError as exc:
        # Shown like a failed stage: right after the scrape, before any photo is scored.
        display = reporter()
        display.stage("collected")
        display.fail(exc)
        raise
    # Its shard stages go to settings.cluster when set (flows.cluster.stage_shards).
    curated = curate_flow(settings, review_budget=request.review_budget, features=request.features)
    split = split_flow(settings, request.split)
    config = replace(
        request.train,
        data=replace(request.train.data, kind="catalog", split_name=request.split.name),
    )
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        champion = current_champion(conn)
    trained = train_flow(settings, config)
    champion_validation = None
    if champion is not None:
        champion_validation = champion_on_validation(
            settings, champion, config, split.get("split_id")
        )
    # The evaluate flow applies the promotion, so its summary shows the decision and why.
    challenger_metrics = evaluate_flow(
        settings, trained["run_dir"], promote=True, champion_validation=champion_validation
    )
    decision = challenger_metrics["promotion"]
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        models = list_models(conn)
        now_champion = current_champion(conn)
    print(decision["decision"])
    waiting = pending_reviews(settings)
    publish(
        "models",
        "Champion and challengers",
        markdown_table(
            [
                "run",
                "model",
                "role",
                "split",
                "validation accuracy",
                "test set",
                "test photos",
                "test accuracy",
                "looks",
            ],
            [
                (
                    m.name,
                    m.model,
                    m.role,
                    m.split,
                    m.validation_accuracy,
                    short_fingerprint(m.test_fingerprint),
                    m.test_count,
                    m.test_accuracy,
                    m.test_looks,
                )
                for m in models
            ],
        )
        + f"\n\n{decision['decision']}\n\n{waiting} photos wait for review: run "
        "`carscout review`.",
    )
    return {
        "scrape": scraped,
        "curate": curated,
        "split": split,
        "train": trained,
        "test_accuracy": challenger_metrics["accuracy"],
        "test_fingerprint": challenger_metrics["test_fingerprint"],
        "test_count": challenger_metrics["count"],
        "promoted": decision["promoted"],
        "decision": decision["decision"],
        "verdict": decision["verdict"],
        "champion_validation": decision["champion_validation"],
        "p_value": decision["p_value"],
        "champion": now_champion.name if now_champion else None,
        "champion_run_dir": now_champion.run_dir if now_champion else None,
        "pending_review": waiting,
    }
