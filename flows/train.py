"""The ``train`` and ``evaluate`` flows. Evaluation is its own flow: training never sees test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.progress import reporter, retry_unless_user_error
from flows.reporting import markdown_table, publish
from pipeline.errors import CarscoutError
from pipeline.settings import Settings
from pipeline.workspace import Workspace
from training.config import TrainConfig


def _epoch_display() -> Any:
    import keras

    class EpochDisplay(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            detail = f"val accuracy {logs.get('val_accuracy', float('nan')):.3f}"
            reporter().update(epoch + 1, None, detail)

    return EpochDisplay()


@task(
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_unless_user_error,
    cache_policy=NO_CACHE,
)
def fit_model(settings: Settings, config: TrainConfig, name: str | None = None) -> dict[str, Any]:
    """Train on the configured data; a retry resumes the same run folder from its last epoch.

    Returns ``run_dir``, ``name``, ``run_id`` and the best ``validation`` accuracy.
    """
    from training.data_sources import resolve_data
    from training.trainer import train

    display = reporter()
    display.stage("train", total=config.epochs)
    with Workspace.open(settings) as ws:
        data = resolve_data(config.data, ws)
        result = train(config, data, workspace=ws, name=name, callbacks=[_epoch_display()])
    display.finish(
        f"{result.model or config.model}: best validation accuracy "
        f"{result.validation.get('accuracy', 0):.4f} (epoch {result.best_epoch})"
        + (f"; {result.failure}" if result.failure else "")
    )
    if result.model_choice and config.model != result.model:
        display.note(result.model_choice)
    return {
        "run_dir": str(result.run_dir),
        "name": result.name,
        "run_id": result.run_id,
        "validation_accuracy": result.validation.get("accuracy"),
        "train_accuracy": result.train.get("accuracy"),
        "best_epoch": result.best_epoch,
        "seconds": result.seconds,
        "failure": result.failure,
        "model": result.model,
        "model_choice": result.model_choice,
    }


@flow(name="train", log_prints=True)
def train_flow(settings: Settings, config: TrainConfig, name: str | None = None) -> dict[str, Any]:
    """Train one model and publish its validation result; return :func:`fit_model`'s dict."""
    result = fit_model(settings, config, name)
    publish(
        "train-summary",
        f"Training run {result['name']}",
        markdown_table(
            ["model", "best epoch", "train accuracy", "validation accuracy", "run folder"],
            [
                (
                    result["model"] or config.model,
                    result["best_epoch"],
                    result["train_accuracy"],
                    result["validation_accuracy"],
                    result["run_dir"],
                )
            ],
        ),
    )
    return result


@task(
    retries=1,
    retry_delay_seconds=5,
    retry_condition_fn=retry_unless_user_error,
    cache_policy=NO_CACHE,
)
def score_on_test(settings: Settings, run_dir: str) -> dict[str, Any]:
    """Evaluate a finished run on its test subset; return the metrics dict."""
    from training.evaluation import evaluate

    reporter().stage("evaluate")
    with Workspace.open(settings) as ws:
        metrics = evaluate(Path(run_dir), workspace=ws)
    reporter().finish(f"test accuracy {metrics['accuracy']:.4f} on {metrics['count']} photos")
    return metrics


@task(cache_policy=NO_CACHE)
def weigh_against_champion(
    settings: Settings, run_dir: str, promote: bool, champion_validation: float | None
) -> dict[str, Any] | None:
    """Decide on the run in ``run_dir`` against the champion (:mod:`training.registry_policy`'s
    rules) and apply the decision when ``promote``; show it as the ``promotion`` stage.

    Not retried: a promotion applied once must not be judged again against itself. Returns
    ``promoted``, ``verdict`` (one line, e.g. ``kept: validation 0.8100 ≤ champion 0.8300;
    McNemar p=0.5``), ``decision`` (the long form), ``p_value`` (None without a paired test)
    and ``champion_validation``; None when the run is not in the catalog (with ``promote``
    that raises :class:`CarscoutError`).
    """
    from training.records import find_training_run
    from training.registry_policy import judge
    from training.registry_roles import promote as apply_promotion

    with Workspace.open(settings) as ws:
        run_id = find_training_run(ws, run_dir=str(Path(run_dir).resolve()))
        if run_id is None and promote:
            raise CarscoutError(f"run {run_dir} is not in the catalog, so it cannot be promoted")
        if run_id is None:
            return None
        reporter().stage("promotion")
        if promote:
            with ws.catalog.atomic() as conn:
                decision = apply_promotion(conn, run_id, champion_validation=champion_validation)
        else:
            with ws.catalog.reading() as conn:
                decision = judge(conn, run_id, champion_validation=champion_validation)
    verdict = decision.verdict(hypothetical=not promote)
    reporter().finish(verdict)
    return {
        "promoted": decision.promoted,
        "verdict": verdict,
        "decision": decision.describe(),
        "p_value": decision.p_value,
        "champion_validation": decision.champion_validation,
    }


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    settings: Settings,
    run_dir: str,
    promote: bool = False,
    champion_validation: float | None = None,
) -> dict[str, Any]:
    """Score a finished run on the test set once, weigh it against the champion, publish the
    table with the promotion decision, and return the metrics.

    ``promote``: apply the decision (``collect-and-retrain`` does); otherwise it is only shown
    as what would happen. ``champion_validation``: the champion's accuracy on this run's
    validation photos (default: its recorded figure). The metrics dict also holds
    ``promotion``: :func:`weigh_against_champion`'s dict, or None for a run not in the catalog.
    """
    metrics = score_on_test(settings, run_dir)
    promotion = weigh_against_champion(settings, run_dir, promote, champion_validation)
    rows = [
        (name, values["precision"], values["recall"], values["support"])
        for name, values in metrics["per_class"].items()
    ]
    decision = (
        f"\n\nPromotion: **{promotion['verdict']}**\n\n{promotion['decision']}"
        if promotion is not None
        else ""
    )
    publish(
        "evaluate-summary",
        f"Test metrics of {Path(run_dir).name}",
        f"accuracy **{metrics['accuracy']:.4f}** on {metrics['count']} test photos\n\n"
        + markdown_table(["class", "precision", "recall", "support"], rows)
        + f"\n\nConfusion matrix: {Path(run_dir) / 'confusion_matrix_test.png'}"
        + decision,
    )
    return {**metrics, "promotion": promotion}
