"""``carscout train``, ``evaluate``, ``predict`` and ``experiment data-size``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.commands.context import hint, workspace_from
from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace
from training.config import AUTO_MODEL, DataSpec, TrainConfig

console = Console()

Source = Annotated[
    str,
    typer.Option(
        "--source",
        help="Where the photos come from: catalog (a split), folder (a folder-per-class tree, "
        "e.g. an export) or stanford (Stanford Cars, either layout).",
    ),
]
DataPath = Annotated[
    Path | None, typer.Option("--data", help="Folder of a folder or stanford source.")
]
SplitName = Annotated[str, typer.Option("--split", help="Catalog split name (--source catalog).")]
Crop = Annotated[
    bool, typer.Option("--crop/--no-crop", help="Crop Stanford photos to their bounding box.")
]
ValFraction = Annotated[
    float,
    typer.Option("--validation-fraction", help="Share of train carved as validation if needed."),
]
# training.models.MODELS, named here so that a wrong --model is refused before Keras loads
# (tests/cli/test_cli_errors.py checks that both lists agree).
MODEL_NAMES = (
    "baseline",
    "baseline_aug",
    "baseline_aug_dropout",
    "baseline_aug_dropout_bn",
    "fast_cnn",
    "vgg16",
    "efficientnet_b0",
    "mobilenet_v3_small",
)
ModelName = Annotated[
    str,
    typer.Option(
        "--model",
        help="auto (mobilenet_v3_small fine-tuned when ImageNet weights are on disk or "
        "downloadable, else baseline_aug; one line says which and why), baseline, baseline_aug, "
        "baseline_aug_dropout, baseline_aug_dropout_bn, fast_cnn, vgg16, efficientnet_b0 or "
        "mobilenet_v3_small.",
    ),
]
ImageSize = Annotated[int, typer.Option("--image-size", help="Square input side in pixels.")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Photos per training step.")]
Epochs = Annotated[
    int, typer.Option("--epochs", help="Most epochs (early stopping may end sooner).")
]
FineTune = Annotated[
    int, typer.Option("--fine-tune-epochs", help="Fine-tuning epochs for transfer models.")
]
LearningRate = Annotated[float, typer.Option("--learning-rate", help="Adam learning rate.")]
Weights = Annotated[
    str,
    typer.Option("--weights", help="Transfer model weights: imagenet, none or a weights file."),
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed for splits, shuffling and init.")]
Quantize = Annotated[
    int | None,
    typer.Option("--quantize-colors", help="Reduce each photo to this many colours (e.g. 32)."),
]
Mixed = Annotated[str, typer.Option("--mixed-precision", help="auto (on a GPU only), on or off.")]
Patience = Annotated[int, typer.Option("--patience", help="Early-stopping patience in epochs.")]


def _option(name: str, annotation: object, default: object) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation
    )


_DATA_DEFAULTS = DataSpec()
_DEFAULTS = TrainConfig()

# The options every training command shares, in --help order; defaults are TrainConfig's own.
TRAIN_OPTIONS: tuple[inspect.Parameter, ...] = (
    _option("source", Source, _DATA_DEFAULTS.kind),
    _option("data", DataPath, _DATA_DEFAULTS.path),
    _option("split", SplitName, _DATA_DEFAULTS.split_name),
    _option("crop", Crop, _DATA_DEFAULTS.crop),
    _option("validation_fraction", ValFraction, _DATA_DEFAULTS.validation_fraction),
    _option("model", ModelName, _DEFAULTS.model),
    _option("image_size", ImageSize, _DEFAULTS.image_size),
    _option("batch_size", BatchSize, _DEFAULTS.batch_size),
    _option("epochs", Epochs, _DEFAULTS.epochs),
    _option("fine_tune_epochs", FineTune, _DEFAULTS.fine_tune_epochs),
    _option("learning_rate", LearningRate, _DEFAULTS.learning_rate),
    _option("weights", Weights, _DEFAULTS.weights),
    _option("seed", Seed, _DEFAULTS.seed),
    _option("quantize_colors", Quantize, _DEFAULTS.quantize_colors),
    _option("mixed_precision", Mixed, _DEFAULTS.mixed_precision),
    _option("patience", Patience, _DEFAULTS.patience),
)


def train_config(
    *,
    source: str,
    data: Path | None,
    split: str,
    crop: bool,
    validation_fraction: float,
    seed: int,
    **training: Any,
) -> TrainConfig:
    """Return the :class:`TrainConfig` the shared training options describe.

    ``training`` holds the remaining :data:`TRAIN_OPTIONS` (``model``, ``epochs`` …), which are
    TrainConfig fields of the same name. Raises :class:`CarscoutError` for an unknown source.
    """
    if source not in ("catalog", "folder", "stanford"):
        raise CarscoutError(f"--source {source!r}: use catalog, folder or stanford")
    spec = DataSpec(
        kind=source,  # type: ignore[arg-type]  # checked just above
        path=str(Path(data).resolve()) if data else None,
        split_name=split,
        crop=crop,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    return TrainConfig(data=spec, seed=seed, **training)


def with_train_options(command: Callable[..., None]) -> Callable[..., None]:
    """Return ``command`` declaring :data:`TRAIN_OPTIONS` where it declares ``config``.

    Typer reads the returned function's signature, so every command that takes a
    ``config: TrainConfig`` gets the same options; the wrapper turns their values into that
    config with :func:`train_config` and passes the command's other arguments through.
    """
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        parameters.extend(TRAIN_OPTIONS if parameter.name == "config" else [parameter])
    names = [option.name for option in TRAIN_OPTIONS]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        options = {name: kwargs.pop(name) for name in names}
        command(*args, config=train_config(**options), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return wrapper


def _metrics_table(title: str, sections: dict[str, dict]) -> Table:
    table = Table(title=title)
    table.add_column("subset")
    for column in ("photos", "accuracy", "top-5", "loss", "macro precision", "macro recall"):
        table.add_column(column, justify="right")
    for subset, m in sections.items():

        def fmt(key: str, m: dict = m) -> str:
            return "—" if m.get(key) is None else f"{m[key]:.4f}"

        table.add_row(
            subset,
            str(m.get("count", "")),
            fmt("accuracy"),
            fmt("top5_accuracy"),
            fmt("loss"),
            fmt("macro_precision"),
            fmt("macro_recall"),
        )
    return table


@with_train_options
def train_command(
    ctx: typer.Context,
    config: TrainConfig,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Run name (folder under runs/); an unfinished one resumes."),
    ] = None,
) -> None:
    """Train a model, choosing on validation only; the test set is left for `evaluate`."""
    from training.data_sources import resolve_data

    # A folder or Stanford source needs no catalog yet: the run is recorded in a new one.
    with workspace_from(ctx, create=config.data.kind != "catalog") as workspace:
        # The data and the model name are checked before TensorFlow is loaded (seconds).
        labelled = resolve_data(config.data, workspace)
        check_model(config.model)
        from training.model_choice import resolve_model
        from training.trainer import train

        config = resolve_model(config)
        if config.model_choice:
            console.print(config.model_choice, highlight=False)
        console.print(
            f"Training {config.model} on {labelled.source}: "
            + ", ".join(f"{k} {v}" for k, v in labelled.counts().items() if k != "test")
            + f" photos, {labelled.num_classes} classes"
        )
        for note in labelled.warnings:
            console.print(f"[yellow]warning:[/] {escape(note)}", highlight=False)
        result = train(config, labelled, workspace=workspace, name=name, verbose=2)
    console.print(
        _metrics_table(
            f"Run {result.name} (best epoch {result.best_epoch}, {result.seconds:.0f} s)",
            {"train": result.train, "validation": result.validation},
        )
    )
    console.print(f"Run folder: {result.run_dir}")
    console.print(f"Next, once every choice is made: `{hint(ctx, f'evaluate {result.name}')}`")


def check_model(name: str) -> None:
    """Raise :class:`CarscoutError` for an unknown model name (without importing Keras)."""
    if name != AUTO_MODEL and name not in MODEL_NAMES:
        raise CarscoutError(
            f"unknown model {name!r}; choose auto or one of {', '.join(MODEL_NAMES)}"
        )


def _run_dir(workspace: Workspace, run: str) -> Path:
    """Return the run folder ``run`` names: a run folder path, a catalog run name or runs/NAME."""
    from training.records import run_dir_of

    path = Path(run)
    # Only a folder holding a run counts as a path, so a run named like a folder in the current
    # directory (e.g. ``cli``) is still found by name.
    if (path / "config.json").is_file():
        return path
    recorded = run_dir_of(workspace, run)
    if recorded:
        return Path(recorded)
    candidate = workspace.settings.runs_dir / run
    if candidate.is_dir():
        return candidate
    raise CarscoutError(f"no run {run!r}: give a run folder or a run name from the catalog")


def _is_run_folder(run: str) -> bool:
    return (Path(run) / "config.json").is_file()


def evaluate_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run folder or run name.")],
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="Look at the test set of a run already evaluated once more (counted, and "
            "shown by `carscout models`).",
        ),
    ] = False,
) -> None:
    """Measure a finished run on its fixed test set, once, after every choice is made."""
    from training.run_folder import looks_so_far, require_finished

    with workspace_from(ctx, create=_is_run_folder(run)) as workspace:
        run_dir = require_finished(_run_dir(workspace, run))
        looks = looks_so_far(run_dir, workspace)
        if looks and not again:
            raise CarscoutError(
                f"run {run_dir.name} was already evaluated on its test set ({looks} look(s)); "
                f"the test set is for one look — `{hint(ctx, f'evaluate {run} --again')}` "
                "looks once more and is counted"
            )
        from training.evaluation import evaluate

        metrics = evaluate(run_dir, workspace=workspace, again=again)
        from training.registry_policy import promotion_preview

        with workspace.catalog.reading() as conn:
            promotion = promotion_preview(conn, run_dir)
    console.print(_metrics_table(f"Test results of {run_dir.name}", {"test": metrics}))
    console.print(
        f"Test set: {metrics['test_set']}, fingerprint {metrics['test_fingerprint'][:8]}, "
        f"{metrics['count']} photos; looked at {metrics['test_looks']} time(s).",
        soft_wrap=True,
        highlight=False,
    )
    if promotion:
        console.print(promotion, soft_wrap=True, highlight=False)
    changed = {k: v for k, v in metrics.get("test_changed", {}).items() if v}
    if changed:
        console.print(
            "[yellow]note:[/] since the split was built, test photos were "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changed.items())
            + "; they are scored under the labels the test set was built with. "
            f"`{hint(ctx, 'split --reshuffle')}` builds a new version that applies the "
            "decisions (a new test set, compared with no earlier run).",
            soft_wrap=True,
            highlight=False,
        )


def _parse_box(text: str | None) -> tuple[int, int, int, int] | None:
    if text is None:
        return None
    try:
        x1, y1, x2, y2 = (int(part) for part in text.split(","))
    except ValueError:
        raise CarscoutError(
            f"--box {text!r}: give four whole pixel numbers x1,y1,x2,y2, e.g. 39,116,569,375"
        ) from None
    if not (0 <= x1 < x2 and 0 <= y1 < y2):
        raise CarscoutError(f"--box {text!r}: need 0 <= x1 < x2 and 0 <= y1 < y2")
    return x1, y1, x2, y2


def predict_command(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Photo file(s) to classify.")],
    run: Annotated[str, typer.Option("--run", help="Run folder or run name to predict with.")],
    box: Annotated[
        str | None,
        typer.Option(
            "--box",
            help="Crop every photo to x1,y1,x2,y2 (pixels, 0-based, right/bottom exclusive) "
            "first, as a run trained with --crop saw its photos.",
        ),
    ] = None,
) -> None:
    """Print the predicted label and confidence of each photo (or why it has none).

    Exits with 1 when any photo could not be classified; the others are still printed.
    """
    crop = _parse_box(box)
    from training.run_folder import require_finished

    with workspace_from(ctx, create=_is_run_folder(run)) as workspace:
        run_dir = require_finished(_run_dir(workspace, run))
    from training.evaluation import predict

    if TrainConfig.load(run_dir / "config.json").data.crop and crop is None:
        console.print(
            "[yellow]note:[/] this run was trained on photos cropped to their bounding box; "
            "pass --box x1,y1,x2,y2 to crop these photos the same way",
            highlight=False,
        )
    table = Table(title=f"Predictions of {run_dir.name}")
    table.add_column("photo", overflow="fold")
    table.add_column("label")
    table.add_column("confidence", justify="right")
    predictions = predict(run_dir, images, box=crop)
    for prediction in predictions:
        if prediction.error:
            table.add_row(str(prediction.path), f"[red]{escape(prediction.error)}[/]", "—")
        else:
            table.add_row(str(prediction.path), prediction.label, f"{prediction.confidence:.3f}")
    console.print(table)
    failed = sum(1 for p in predictions if p.error)
    if failed:
        raise CarscoutError(f"{failed} of {len(predictions)} photo(s) could not be classified")


@with_train_options
def data_size_command(
    ctx: typer.Context,
    fractions: Annotated[
        str, typer.Option("--fractions", help="Fractions of the training photos to try.")
    ] = "0.1,0.25,0.5,1.0",
    config: TrainConfig = _DEFAULTS,
) -> None:
    """Validation accuracy against the number of training photos, with the train gap."""
    from training.data_sources import resolve_data
    from training.experiments import data_size_experiment, parse_fractions

    chosen = parse_fractions(fractions)
    with workspace_from(ctx, create=config.data.kind != "catalog") as workspace:
        labelled = resolve_data(config.data, workspace)
        check_model(config.model)
        points, out_dir = data_size_experiment(config, labelled, chosen, workspace=workspace)
    table = Table(title=f"Validation accuracy against training photos ({config.model})")
    for column in ("fraction", "train photos", "val accuracy", "train accuracy", "gap", "s"):
        table.add_column(column, justify="right")
    for p in points:
        table.add_row(
            f"{p.fraction:g}",
            str(p.train_photos),
            f"{p.validation_accuracy:.4f}",
            f"{p.train_accuracy:.4f}",
            f"{p.gap:+.4f}",
            f"{p.seconds:.0f}",
        )
    console.print(table)
    console.print(f"Plot and table: {out_dir}")


def register(app: typer.Typer) -> None:
    """Add the training commands to the ``carscout`` app."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)
    experiment = typer.Typer(help="Experiments that answer questions about the data.")
    experiment.command("data-size")(data_size_command)
    app.add_typer(experiment, name="experiment")
