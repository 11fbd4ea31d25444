"""``--model auto`` (the default): a transfer model when ImageNet weights can be had, else the
offline CNN.

A pretrained base sees cars far better than anything trained from scratch on a few thousand
photos, but its weights come from the network. So ``auto`` fine-tunes
:data:`TRANSFER_MODEL` (MobileNetV3Small: small and quick on a CPU) when its no-top ImageNet
weights are given as a file, lie in the Keras cache or can be downloaded there
(:func:`pipeline.weights.fetch_imagenet_weights`, honouring ``$CARSCOUT_WEIGHTS_BASE_URL`` and
``off``), and trains :data:`OFFLINE_MODEL` (``baseline_aug``, the best offline CNN on real photos
in ``benchmarks/train.py``) otherwise. :func:`resolve_model` returns the configuration with the
model it chose and one line saying which and why (``TrainConfig.model_choice``), which the run
prints and its model card keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.weights import (
    WEIGHTS_BASE_URL_ENV,
    WeightsUnavailable,
    cached_imagenet_weights,
    fetch_imagenet_weights,
    weights_url,
)
from training.config import AUTO_MODEL, OFFLINE_MODEL, TrainConfig

TRANSFER_MODEL = "mobilenet_v3_small"
# Its keras.applications name (training.models.KERAS_APPLICATIONS, named here so that choosing
# does not load TensorFlow; tests/training/test_model_choice.py checks that both agree).
TRANSFER_APPLICATION = "MobileNetV3Small"


def _quiet(line: str) -> None:
    """Drop the downloader's own line: the choice line says the same."""


def resolve_model(config: TrainConfig, say: Callable[[str], None] = _quiet) -> TrainConfig:
    """Return ``config`` with ``model`` ``auto`` replaced by the model to train and
    ``model_choice`` set to one line saying which and why; any other model comes back unchanged.

    ``weights`` decides: a weights file → the transfer model on it; ``none`` → the offline CNN;
    ``imagenet`` → the transfer model when the weights are in the Keras cache or download
    (``say`` gets the downloader's line), else the offline CNN with the reason. Never raises
    for weights that cannot be had: that is what ``auto`` falls back from.
    """
    if config.model != AUTO_MODEL:
        return config
    application = TRANSFER_APPLICATION
    offline = f"model auto: trained {OFFLINE_MODEL} (the offline CNN)"
    transfer = f"model auto: fine-tuned {TRANSFER_MODEL} ({application} base)"
    if config.weights == "none":
        return config.with_changes(
            model=OFFLINE_MODEL, model_choice=f"{offline}: --weights none asks for no weights"
        )
    if config.weights != "imagenet":
        # A path: checked by the transfer model itself, which names the fix if it is missing.
        why = f"{transfer} on the weights file {Path(config.weights).name}"
        return config.with_changes(model=TRANSFER_MODEL, model_choice=why)
    cached = cached_imagenet_weights(application)
    if cached.is_file():
        why = f"{transfer}: its ImageNet weights are in the Keras cache ({cached.parent})"
        return config.with_changes(model=TRANSFER_MODEL, model_choice=why)
    if weights_url(application) is None:
        why = f"{offline}: ImageNet downloads are off ({WEIGHTS_BASE_URL_ENV}=off)"
        return config.with_changes(model=OFFLINE_MODEL, model_choice=why)
    try:
        fetch_imagenet_weights(application, say=say)
    except WeightsUnavailable as exc:
        why = (
            f"{offline}: ImageNet weights for {application} could not be downloaded "
            f"({exc.reason}); put the file in {cached.parent} or pass --weights FILE for "
            f"{TRANSFER_MODEL}"
        )
        return config.with_changes(model=OFFLINE_MODEL, model_choice=why)
    why = f"{transfer}: its ImageNet weights were downloaded into {cached.parent}"
    return config.with_changes(model=TRANSFER_MODEL, model_choice=why)
