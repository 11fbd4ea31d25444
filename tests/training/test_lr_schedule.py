"""The learning-rate schedule option: plateau (default) or a cosine decay over the run."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from pipeline.errors import ConfigError
from training.config import TrainConfig
from training.data_sources import from_folder_tree
from training.trainer import train


class LearningRates(keras.callbacks.Callback):
    """Remember the optimizer's learning rate at the end of every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_cosine_schedule_decays_to_zero_over_the_epochs(folder_tree: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        model="baseline",
        image_size=32,
        batch_size=8,
        epochs=3,
        weights="none",
        tensorboard=False,
        lr_schedule="cosine",
    )
    rates = LearningRates()
    train(config, from_folder_tree(folder_tree), run_dir=tmp_path / "run", callbacks=[rates])
    assert len(rates.rates) == 3
    assert rates.rates[0] < config.learning_rate
    assert rates.rates == sorted(rates.rates, reverse=True)
    assert rates.rates[-1] == pytest.approx(0.0, abs=1e-9)


def test_unknown_schedule_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="plateau or cosine"):
        TrainConfig(lr_schedule="step")  # type: ignore[arg-type]
    assert TrainConfig().lr_schedule == "plateau"
