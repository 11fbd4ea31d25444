"""The named model variants and how to build them.

=========================  ==============================================================
``baseline``               the two-car project's CNN: 4 conv blocks (32, 64, 128, 128
                           filters) with max-pooling, dense 512 (150×150 input originally)
``baseline_aug``           + augmentation (in the input pipeline) (the default)
``baseline_aug_dropout``   + dropout 0.5 before the dense layers
``baseline_aug_dropout_bn``+ batch normalization after every convolution
``fast_cnn``               compact strided CNN with batch norm and dropout, for many classes
``vgg16``                  VGG16 base + small head; frozen base, then fine-tuning
``efficientnet_b0``        EfficientNetB0 base, same recipe
``mobilenet_v3_small``     MobileNetV3Small base, same recipe
=========================  ==============================================================

Every model takes float32 photos in 0–255 and does its own rescaling, and ends in one sigmoid
unit for two classes or a softmax over the classes otherwise; the head is float32 even under
mixed precision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
from keras import layers

from pipeline.errors import ConfigError
from pipeline.weights import (
    WeightsUnavailable,
    cached_imagenet_weights,
    efficientnet_input_rescale,
    fetch_imagenet_weights,
)

BN_MOMENTUM = 0.9
# Transfer model -> its keras.applications base, whose ImageNet weights pipeline.weights fetches.
KERAS_APPLICATIONS = {
    "vgg16": "VGG16",
    "efficientnet_b0": "EfficientNetB0",
    "mobilenet_v3_small": "MobileNetV3Small",
}


@keras.saving.register_keras_serializable(package="carscout")
class CaffePreprocess(keras.layers.Layer):
    """VGG16's own preprocessing as a layer: RGB→BGR and ImageNet mean subtraction."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, inputs):  # type: ignore[no-untyped-def]
        bgr = keras.ops.flip(inputs, axis=-1)
        return bgr - keras.ops.convert_to_tensor(self.MEAN_BGR, dtype=bgr.dtype)


@dataclass(frozen=True)
class ModelSpec:
    """What a model name means: whether the pipeline augments and whether it is a transfer model."""

    name: str
    augment: bool
    transfer: bool
    description: str


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("baseline", False, False, "4 conv blocks + dense 512, as in the two-car project"),
        ModelSpec("baseline_aug", True, False, "baseline + augmentation"),
        ModelSpec("baseline_aug_dropout", True, False, "baseline + augmentation + dropout 0.5"),
        ModelSpec(
            "baseline_aug_dropout_bn", True, False, "baseline + augmentation + dropout + batch norm"
        ),
        ModelSpec("fast_cnn", True, False, "compact strided CNN with batch norm and dropout"),
        ModelSpec("vgg16", True, True, "VGG16 transfer learning"),
        ModelSpec("efficientnet_b0", True, True, "EfficientNetB0 transfer learning"),
        ModelSpec("mobilenet_v3_small", True, True, "MobileNetV3Small transfer learning"),
    )
}


def model_spec(name: str) -> ModelSpec:
    """Return the spec of a model name, or raise :class:`ConfigError` listing the names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def _head(x: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    if num_classes == 2:
        return layers.Dense(1, activation="sigmoid", dtype="float32", name="prediction")(x)
    return layers.Dense(num_classes, activation="softmax", dtype="float32", name="prediction")(x)


def _baseline(image_size: int, num_classes: int, *, dropout: bool, batch_norm: bool) -> keras.Model:
    # Valid padding as in the original; below 46 px four valid blocks would shrink to nothing.
    padding = "valid" if image_size >= 46 else "same"
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64, 128, 128):
        x = layers.Conv2D(filters, 3, padding=padding, use_bias=not batch_norm)(x)
        if batch_norm:
            # Keras' default momentum 0.99 needs ~500 steps to settle the moving statistics;
            # a run of a few hundred steps on real photos then validated with the initial
            # ones and stayed at chance (issue 15). 0.9 settles within an epoch or two.
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    if dropout:
        x = layers.Dropout(0.5)(x)
    x = layers.Dense(512, activation="relu")(x)
    return keras.Model(inputs, _head(x, num_classes))


def _fast_cnn(image_size: int, num_classes: int) -> keras.Model:
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters, stride in ((32, 1), (64, 2), (96, 2), (128, 2), (192, 2)):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, _head(x, num_classes))


def _application(name: str, image_size: int, weights: str | None) -> tuple[keras.Model, Callable]:
    shape = (image_size, image_size, 3)
    if name == "vgg16":
        base = keras.applications.VGG16(include_top=False, weights=weights, input_shape=shape)
        return base, CaffePreprocess(name="caffe_preprocess")
    if name == "efficientnet_b0":  # rescales and normalizes inside the network
        base = keras.applications.EfficientNetB0(
            include_top=False, weights=weights, input_shape=shape
        )
        return base, layers.Identity()
    base = keras.applications.MobileNetV3Small(
        include_top=False, weights=weights, input_shape=shape, include_preprocessing=True
    )
    return base, layers.Identity()


def _imagenet_weights(name: str) -> Path:
    """Return the no-top ImageNet weights of transfer model ``name`` from the Keras cache,
    downloaded there first if missing; a failed download is a :class:`ConfigError` naming
    ``--weights none`` or a file (a training run never switches weights by itself)."""
    application = KERAS_APPLICATIONS[name]
    try:
        return fetch_imagenet_weights(application)
    except WeightsUnavailable as exc:
        raise ConfigError(
            f"cannot get ImageNet weights for {name} ({exc.reason}); pass --weights PATH to a "
            f"saved no-top file, put {cached_imagenet_weights(application)} in place, or use "
            "--weights none"
        ) from exc


def _normalization_mean(base: keras.Model) -> list[float]:
    """Return the per-channel mean of the first Normalization layer of ``base``."""
    layer = next(layer for layer in base.layers if isinstance(layer, layers.Normalization))
    return [float(v) for v in keras.ops.convert_to_numpy(layer.weights[0]).reshape(-1)]


def _transfer(name: str, image_size: int, num_classes: int, weights: str) -> keras.Model:
    if weights == "imagenet":
        weights_file: Path | None = _imagenet_weights(name)
    elif weights == "none":
        weights_file = None
    else:
        weights_file = Path(weights)
        if not weights_file.is_file():
            raise ConfigError(
                f"weights file {weights_file} does not exist; use imagenet, none or a path"
            )
    # The weights are loaded from the file, never by Keras' own download (it has no timeout).
    base, preprocess = _application(name, image_size, None)
    if weights_file is not None:
        try:
            base.load_weights(weights_file)
        except (ValueError, OSError) as exc:
            raise ConfigError(
                f"{weights_file} does not fit {name} without its top ({exc}); "
                "use a no-top weights file for this model"
            ) from exc
        if name == "efficientnet_b0":
            preprocess = layers.Rescaling(*efficientnet_input_rescale(_normalization_mean(base)))
    base.trainable = False
    inputs = keras.Input((image_size, image_size, 3), name="image")
    # training=False keeps the base's batch-norm statistics frozen, also while fine-tuning.
    x = base(preprocess(inputs), training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, _head(x, num_classes), name=f"{name}_transfer")


def build_model(
    name: str, *, image_size: int, num_classes: int, weights: str = "none"
) -> keras.Model:
    """Return the uncompiled model ``name`` for square ``image_size`` photos and ``num_classes``.

    ``weights`` matters only for transfer models: ``imagenet``, ``none`` or a weights file path.
    For two classes the output is ``(B, 1)`` (probability of class 1), otherwise
    ``(B, num_classes)``.
    """
    spec = model_spec(name)
    if num_classes < 2:
        raise ConfigError("a classifier needs at least two classes")
    if spec.transfer:
        return _transfer(name, image_size, num_classes, weights)
    if name == "fast_cnn":
        return _fast_cnn(image_size, num_classes)
    return _baseline(
        image_size,
        num_classes,
        dropout="dropout" in name,
        batch_norm=name.endswith("_bn"),
    )


def transfer_base(model: keras.Model) -> keras.Model | None:
    """Return the pretrained base inside a transfer model (None for the plain CNNs)."""
    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)


def unfreeze_top(model: keras.Model, count: int) -> int:
    """Make the last ``count`` layers of a transfer model's base trainable; return how many.

    Batch-normalization layers stay frozen: updating their statistics on a small data set
    would undo what the base learnt.
    """
    base = transfer_base(model)
    if base is None:
        return 0
    base.trainable = True
    unfrozen = 0
    for index, layer in enumerate(base.layers):
        keep = index >= len(base.layers) - count and not isinstance(
            layer, layers.BatchNormalization
        )
        layer.trainable = keep
        unfrozen += int(keep and bool(layer.weights))
    return unfrozen
