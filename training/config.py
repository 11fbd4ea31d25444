"""The configuration of one training run, passed explicitly to every training function.

A :class:`TrainConfig` is plain data: it is written to ``config.json`` in the run folder and to
the catalog, and read back by ``evaluate`` and ``predict`` so that they preprocess images exactly
as training did.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from pipeline.errors import ConfigError

MixedPrecision = Literal["auto", "on", "off"]
LrSchedule = Literal["plateau", "cosine"]
DataKind = Literal["catalog", "folder", "stanford"]

# On real photos (realcars-dev, 64 px, 12 epochs) the augmented CNN reached 0.88 against the
# true labels, the batch-norm one 0.81 (0.49 before its momentum was lowered): see
# benchmarks/train.py. It is what ``auto`` trains without ImageNet weights.
OFFLINE_MODEL = "baseline_aug"
# ``auto`` (training/model_choice.py): a transfer model when ImageNet weights can be had, else
# OFFLINE_MODEL; the run's ``model_choice`` says which and why.
AUTO_MODEL = "auto"
DEFAULT_MODEL = AUTO_MODEL


@dataclass(frozen=True)
class DataSpec:
    """Where the labelled photos come from, so a run can find its data again.

    ``kind`` is ``catalog`` (a split in the catalog, by ``split_name``), ``folder`` (a
    folder-per-class tree at ``path``) or ``stanford`` (Stanford Cars at ``path``, either layout).
    ``validation_fraction`` and ``test_fraction`` are only used where the source has no such
    subset and one must be carved (stratified, seeded with ``seed``).
    """

    kind: DataKind = "catalog"
    path: str | None = None
    split_name: str = "default"
    crop: bool = False
    validation_fraction: float = 0.2
    test_fraction: float = 0.15
    seed: int = 1337

    def describe(self) -> str:
        """Return a one-line description such as ``stanford:/data/cars (cropped)``."""
        if self.kind == "catalog":
            return f"catalog:{self.split_name}"
        return f"{self.kind}:{self.path}" + (" (cropped)" if self.crop else "")


@dataclass(frozen=True)
class TrainConfig:
    """Every choice that shapes a training run.

    ``image_size`` is the side of the square network input in pixels; ``epochs`` counts the
    first (for transfer models: frozen-base) phase and ``fine_tune_epochs`` the second phase of
    transfer models, run at ``fine_tune_learning_rate``. ``weights`` is ``imagenet``, ``none`` or
    a path to a weights file for the base network. ``quantize_colors`` reduces each photo to that
    many colours before training (None: off). ``mixed_precision`` ``auto`` turns it on only on a
    GPU. ``augment`` None means "as the model variant says". ``lr_schedule`` ``plateau`` cuts
    the learning rate by 0.3 after ``reduce_lr_patience`` epochs without progress (on
    realcars-dev, ``baseline_aug`` at 64 px for 12 epochs: 0.88 against the true labels);
    ``cosine`` decays it to zero over ``epochs`` (same run: 0.81; ``benchmarks/train.py``).
    ``model`` ``auto`` is resolved before training (:mod:`training.model_choice`), which sets
    ``model_choice`` to the line saying which model and why.
    """

    model: str = DEFAULT_MODEL
    image_size: int = 128
    batch_size: int = 32
    epochs: int = 20
    learning_rate: float = 1e-3
    fine_tune_epochs: int = 5
    fine_tune_learning_rate: float = 1e-5
    fine_tune_layers: int = 20
    weights: str = "imagenet"
    seed: int = 1337
    quantize_colors: int | None = None
    mixed_precision: MixedPrecision = "auto"
    patience: int = 5
    reduce_lr_patience: int = 2
    lr_schedule: LrSchedule = "plateau"
    monitor: str = "val_loss"
    augment: bool | None = None
    cache_images: bool = True
    tensorboard: bool = True
    data: DataSpec = field(default_factory=DataSpec)
    model_choice: str = ""

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ConfigError(f"image_size {self.image_size} is too small; use 32 or more")
        if self.batch_size < 1 or self.epochs < 1 or self.fine_tune_epochs < 0:
            raise ConfigError("batch_size and epochs must be at least 1, fine_tune_epochs >= 0")
        if self.learning_rate <= 0 or self.fine_tune_learning_rate <= 0:
            raise ConfigError("learning rates must be positive, e.g. 1e-3")
        if self.quantize_colors is not None and not 2 <= self.quantize_colors <= 256:
            raise ConfigError("quantize_colors must be between 2 and 256 (32 is the default)")
        if self.mixed_precision not in ("auto", "on", "off"):
            raise ConfigError("mixed_precision must be auto, on or off")
        if self.lr_schedule not in ("plateau", "cosine"):
            raise ConfigError("lr_schedule must be plateau or cosine")

    def with_changes(self, **changes: Any) -> TrainConfig:
        """Return a copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as JSON-ready data (``data`` nested as a dict)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a configuration written by :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        values = dict(data)
        if isinstance(values.get("data"), dict):
            values["data"] = DataSpec(**values["data"])
        return cls(**values)

    def save(self, path: Path) -> None:
        """Write the configuration as indented JSON to ``path``."""
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read a configuration written by :meth:`save`."""
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{path} is missing; is {path.parent} a carscout run folder?"
            ) from exc
