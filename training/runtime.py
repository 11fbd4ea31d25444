"""Where and how the maths runs: seeds, float32 or mixed precision, one device or several.

On a GPU, ``mixed_precision="auto"`` picks ``mixed_float16`` (Keras then scales the loss) and
several GPUs train under ``MirroredStrategy``; on the CPU the same code runs in float32
(``"on"`` there means ``mixed_bfloat16``, which is how the GPU path is exercised in tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import keras
import tensorflow as tf

from training.config import TrainConfig


@dataclass
class Runtime:
    """The chosen device set-up: ``policy`` (e.g. ``float32``), ``strategy``, ``gpus`` count."""

    policy: str
    strategy: tf.distribute.Strategy
    gpus: int

    def describe(self) -> str:
        """Return e.g. ``'2 GPU(s), MirroredStrategy, mixed_float16'`` or ``'CPU, float32'``."""
        where = f"{self.gpus} GPU(s)" if self.gpus else "CPU"
        return f"{where}, {type(self.strategy).__name__}, {self.policy}"


def choose_policy(mixed_precision: str, gpus: int) -> str:
    """Return the Keras dtype policy name for a ``mixed_precision`` setting and GPU count."""
    if mixed_precision == "off" or (mixed_precision == "auto" and gpus == 0):
        return "float32"
    return "mixed_float16" if gpus else "mixed_bfloat16"


@contextmanager
def runtime(config: TrainConfig) -> Iterator[Runtime]:
    """Fix the seeds, set the dtype policy and pick a strategy for the duration of a run.

    The global dtype policy is restored afterwards, so one process can train several runs.
    """
    keras.utils.set_random_seed(config.seed)
    gpus = len(tf.config.list_physical_devices("GPU"))
    policy = choose_policy(config.mixed_precision, gpus)
    strategy = tf.distribute.MirroredStrategy() if gpus > 1 else tf.distribute.get_strategy()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield Runtime(policy=policy, strategy=strategy, gpus=gpus)
    finally:
        keras.config.set_dtype_policy(previous)
