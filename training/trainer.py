"""``train``: fit one model on the train subset, choosing everything on validation.

The test subset is never read here; only :func:`training.evaluation.evaluate` reads it. What the
run folder holds is described in :mod:`training.run_folder`.

A run whose validation accuracy ends within two points of the majority class's share (the score
of always answering that class) is at chance level: its :attr:`TrainResult.failure` says so with
a hint, its catalog status is ``failed``, and :mod:`training.registry` never promotes it.

Training a folder that holds an unfinished run resumes it: ``BackupAndRestore`` brings back the
weights and the epoch, the CSV log is appended to, and the best checkpoint keeps its best score.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace
from training import records, reports
from training.config import AUTO_MODEL, TrainConfig
from training.input_pipeline import make_dataset
from training.labelled import LabelledFiles, Sample
from training.metrics import classification_metrics, flat_metrics, has_top_k, to_probabilities
from training.model_choice import resolve_model
from training.models import build_model, model_spec, unfreeze_top
from training.registry import chance_level, chance_level_hint
from training.run_folder import (
    BEST_WEIGHTS,
    FROZEN_DONE,
    HISTORY_FILE,
    best_epoch,
    new_run_name,
    prepare_run_dir,
    prepared,
    read_history,
)
from training.runtime import Runtime, runtime


@dataclass
class TrainResult:
    """What a finished run gives back: its folder, catalog id, best validation metrics.

    ``validation`` is the :func:`training.metrics.classification_metrics` dict of the best
    model plus ``majority_share`` (the commonest class's share of the validation photos);
    ``history`` one dict per epoch (``epoch``, ``loss``, ``accuracy``, ``val_loss`` …);
    ``failure`` is None, or the one-line reason and hint of a run that ended at chance level;
    ``model`` the model trained and ``model_choice`` why, when ``auto`` chose it.
    """

    run_dir: Path
    name: str
    run_id: int | None
    validation: dict[str, Any]
    train: dict[str, Any]
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    failure: str | None = None
    model: str = ""
    model_choice: str = ""


def compile_model(
    model: keras.Model, num_classes: int, learning_rate: float, decay_steps: int | None = None
) -> None:
    """Compile ``model`` for ``num_classes`` classes with Adam at ``learning_rate``, decayed to
    zero along a cosine over ``decay_steps`` optimizer steps when given.

    Binary cross-entropy for two classes (one sigmoid output), sparse categorical otherwise;
    metrics are accuracy, plus top-5 accuracy where there are enough classes. Returns None.
    """
    rate: Any = learning_rate
    if decay_steps:
        rate = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, decay_steps))
    metrics: list[Any] = ["accuracy"]
    if has_top_k(num_classes):
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss="binary_crossentropy" if num_classes == 2 else "sparse_categorical_crossentropy",
        metrics=metrics,
    )


def _callbacks(
    run_dir: Path, config: TrainConfig, phase: str, extra: Sequence[keras.callbacks.Callback]
) -> list[keras.callbacks.Callback]:
    mode = "max" if "acc" in config.monitor else "min"
    checkpoint = keras.callbacks.ModelCheckpoint(
        run_dir / BEST_WEIGHTS,
        monitor=config.monitor,
        mode=mode,
        save_best_only=True,
        save_weights_only=True,
    )
    # After a resume, keep the best score seen before the crash so a worse epoch cannot
    # overwrite the best checkpoint.
    seen = [row[config.monitor] for row in read_history(run_dir) if config.monitor in row]
    if seen and (run_dir / BEST_WEIGHTS).is_file():
        checkpoint.best = max(seen) if mode == "max" else min(seen)
    callbacks: list[keras.callbacks.Callback] = [
        # Backup first: when the CSV shows an epoch, its backup is already on disk.
        keras.callbacks.BackupAndRestore(str(run_dir / "backup" / phase)),
        keras.callbacks.TerminateOnNaN(),
        checkpoint,
        keras.callbacks.EarlyStopping(
            monitor=config.monitor, mode=mode, patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=True),
    ]
    # A cosine schedule owns the learning rate; the plateau rule would fight it.
    if config.lr_schedule == "plateau" or phase != "main":
        callbacks.insert(
            -1,
            keras.callbacks.ReduceLROnPlateau(
                monitor=config.monitor,
                mode=mode,
                factor=0.3,
                patience=config.reduce_lr_patience,
                min_lr=1e-7,
            ),
        )
    # tf.summary needs the tensorboard package; without it the logs are skipped, not fatal.
    if config.tensorboard and importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False))
    return callbacks + list(extra)


def predict_probabilities(
    model: keras.Model, samples: Sequence[Sample], config: TrainConfig, num_classes: int
) -> np.ndarray:
    """Return ``(N, num_classes)`` probabilities for prepared samples, in their order."""
    dataset = make_dataset(
        samples, image_size=config.image_size, batch_size=config.batch_size, cache=False
    )
    return to_probabilities(model.predict(dataset, verbose=0), num_classes)


def _fit_phases(
    model: keras.Model,
    rt: Runtime,
    config: TrainConfig,
    data: LabelledFiles,
    run_dir: Path,
    train_ds: Any,
    val_ds: Any,
    extra: Sequence[keras.callbacks.Callback],
    verbose: int,
) -> None:
    spec = model_spec(config.model)
    frozen_done = run_dir / FROZEN_DONE
    if not frozen_done.exists():
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=config.epochs,
            shuffle=False,
            callbacks=_callbacks(run_dir, config, "main", extra),
            verbose=verbose,
        )
    if not spec.transfer or config.fine_tune_epochs == 0:
        return
    if not frozen_done.exists():
        frozen_done.parent.mkdir(parents=True, exist_ok=True)
        frozen_done.write_text("the frozen-base phase finished; fine-tuning follows\n")
    # Fine-tune from the best frozen-base weights, at a lower learning rate.
    model.load_weights(run_dir / BEST_WEIGHTS)
    with rt.strategy.scope():
        unfreeze_top(model, config.fine_tune_layers)
        compile_model(model, data.num_classes, config.fine_tune_learning_rate)
    done = len(read_history(run_dir))
    model.fit(
        train_ds,
        validation_data=val_ds,
        initial_epoch=done,
        epochs=done + config.fine_tune_epochs,
        shuffle=False,
        callbacks=_callbacks(run_dir, config, "fine_tune", extra),
        verbose=verbose,
    )


def train(
    config: TrainConfig,
    data: LabelledFiles,
    *,
    run_dir: Path | None = None,
    workspace: Workspace | None = None,
    name: str | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> TrainResult:
    """Train ``config.model`` on ``data``'s train subset, choosing on its validation subset.

    ``auto`` is resolved first (:func:`training.model_choice.resolve_model`; its line is printed
    when ``verbose`` is set and kept in the run's config and model card).

    The run folder is ``run_dir``, or ``<runs_dir>/<name>`` of the workspace (``name``
    defaulting to ``<model>-<UTC time>``). If that folder holds an unfinished run with the same
    configuration, training resumes from its last completed epoch. With a ``workspace`` the run
    and its metrics are recorded in the catalog. ``callbacks`` are added after carscout's own.
    Returns a :class:`TrainResult`; the test subset is not touched. A run at chance level is
    recorded as ``failed`` and its ``failure`` hint is printed when ``verbose`` is set.
    """
    chosen_here = config.model == AUTO_MODEL
    config = resolve_model(config)
    if chosen_here and verbose:
        print(config.model_choice)
    spec = model_spec(config.model)
    if run_dir is None:
        if workspace is None:
            raise CarscoutError("train needs a run_dir or a workspace to put the run folder in")
        run_dir = workspace.settings.runs_dir / (name or new_run_name(config))
    run_dir = Path(run_dir).resolve()
    name = name or run_dir.name
    data.check_files_exist(["train", "validation"])
    train_samples, val_samples = data.subset("train"), data.subset("validation")
    prepare_run_dir(run_dir, config, data)
    run_id = None
    if workspace is not None:
        run_id = records.start_training_run(
            workspace,
            name=name,
            model=config.model,
            data_source=data.source,
            split_id=data.split_id,
            run_dir=str(run_dir),
            config=config.to_dict(),
        )
    started = time.perf_counter()
    try:
        train_prepared = prepared(train_samples, config, run_dir)
        val_prepared = prepared(val_samples, config, run_dir)
        augment = spec.augment if config.augment is None else config.augment
        train_ds = make_dataset(
            train_prepared,
            image_size=config.image_size,
            batch_size=config.batch_size,
            training=True,
            augment=augment,
            seed=config.seed,
            cache=config.cache_images,
        )
        val_ds = make_dataset(
            val_prepared,
            image_size=config.image_size,
            batch_size=config.batch_size,
            cache=config.cache_images,
        )
        with runtime(config) as rt:
            with rt.strategy.scope():
                model = build_model(
                    config.model,
                    image_size=config.image_size,
                    num_classes=data.num_classes,
                    weights=config.weights,
                )
                steps = config.epochs * -(-len(train_prepared) // config.batch_size)
                compile_model(
                    model,
                    data.num_classes,
                    config.learning_rate,
                    decay_steps=steps if config.lr_schedule == "cosine" else None,
                )
            _fit_phases(model, rt, config, data, run_dir, train_ds, val_ds, callbacks, verbose)
            if (run_dir / BEST_WEIGHTS).is_file():
                model.load_weights(run_dir / BEST_WEIGHTS)
            seconds = time.perf_counter() - started
            val_probs = predict_probabilities(model, val_prepared, config, data.num_classes)
            train_probs = predict_probabilities(model, train_prepared, config, data.num_classes)
            model.save(run_dir / "model.keras")
            runtime_text = rt.describe()
        result = _write_reports(
            run_dir,
            name,
            run_id,
            config,
            data,
            val_samples,
            val_probs,
            train_samples,
            train_probs,
            seconds,
            runtime_text,
        )
    except BaseException:
        if workspace is not None and run_id is not None:
            records.finish_training_run(workspace, run_id, "failed")
        raise
    if workspace is not None and run_id is not None:
        records.record_metrics(workspace, run_id, "validation", flat_metrics(result.validation))
        records.record_metrics(workspace, run_id, "train", flat_metrics(result.train))
        records.finish_training_run(workspace, run_id, "failed" if result.failure else "finished")
    if result.failure and verbose:
        print(result.failure)
    return result


def _write_reports(
    run_dir: Path,
    name: str,
    run_id: int | None,
    config: TrainConfig,
    data: LabelledFiles,
    val_samples: Sequence[Sample],
    val_probs: np.ndarray,
    train_samples: Sequence[Sample],
    train_probs: np.ndarray,
    seconds: float,
    runtime_text: str,
) -> TrainResult:
    history = read_history(run_dir)
    val_labels = [s.label for s in val_samples]
    validation = classification_metrics(val_labels, val_probs, data.class_names)
    counts = np.bincount(np.asarray(val_labels, dtype=int), minlength=data.num_classes)
    validation["majority_share"] = float(counts.max() / max(counts.sum(), 1))
    failure = None
    if chance_level(validation["accuracy"], validation["majority_share"], len(val_labels)):
        failure = chance_level_hint(validation["accuracy"], validation["majority_share"])
    train_metrics = classification_metrics(
        [s.label for s in train_samples], train_probs, data.class_names
    )
    train_summary = {k: train_metrics[k] for k in ("count", "accuracy", "loss", "top5_accuracy")}
    best = best_epoch(history, config.monitor)
    metrics = {
        "validation": validation,
        "train": train_summary,
        "best_epoch": best + 1,
        "epochs_run": len(history),
        "train_seconds": seconds,
        "runtime": runtime_text,
        "failure": failure,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if history:
        reports.plot_history(history, run_dir / "curves.png")
    reports.plot_confusion(
        validation["confusion_matrix"],
        data.class_names,
        run_dir / "confusion_matrix.png",
        "validation confusion matrix",
    )
    mistakes = reports.worst_mistakes(val_samples, val_probs)
    reports.plot_mistakes(mistakes, data.class_names, run_dir / "worst_mistakes.png")
    reports.write_mistakes_csv(mistakes, data.class_names, run_dir / "worst_mistakes.csv")
    (run_dir / "model_card.md").write_text(
        reports.model_card(
            name=name,
            config=config.to_dict(),
            description=model_spec(config.model).description,
            source=data.source,
            notes=data.notes,
            class_names=data.class_names,
            counts={k: len(v) for k, v in data.subsets.items()},
            metrics=metrics,
            runtime=runtime_text,
        )
    )
    return TrainResult(
        run_dir=run_dir,
        name=name,
        model=config.model,
        model_choice=config.model_choice,
        run_id=run_id,
        validation=validation,
        train=train_summary,
        best_epoch=best + 1,
        history=history,
        seconds=seconds,
        failure=failure,
    )
