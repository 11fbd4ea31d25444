"""Every model variant builds, predicts valid probabilities and updates its weights in one
short epoch; the baseline learns a separable task; heads and precision."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest

from pipeline.errors import ConfigError
from training.config import TrainConfig
from training.data_sources import from_folder_tree
from training.input_pipeline import make_dataset
from training.labelled import Sample
from training.models import MODELS, build_model, transfer_base, unfreeze_top
from training.run_folder import read_history
from training.runtime import choose_policy, runtime
from training.trainer import compile_model, train

CLASSES = {"baseline": 2, "baseline_aug": 2, "baseline_aug_dropout": 2,
           "baseline_aug_dropout_bn": 2, "fast_cnn": 7, "vgg16": 3, "efficientnet_b0": 3,
           "mobilenet_v3_small": 3}  # fmt: skip


def _samples(folder_tree: Path, num_classes: int) -> list[Sample]:
    files = sorted((folder_tree / "train").rglob("*.jpg"))[: max(8, num_classes)]
    return [Sample(path, i % num_classes) for i, path in enumerate(files)]


def _trainable_values(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]


@pytest.mark.parametrize("name", list(MODELS))
def test_each_variant_trains_one_epoch(name: str, folder_tree: Path) -> None:
    num_classes = CLASSES[name]
    spec = MODELS[name]
    samples = _samples(folder_tree, num_classes)
    dataset = make_dataset(
        samples, image_size=32, batch_size=4, training=True, augment=spec.augment
    )
    model = build_model(name, image_size=32, num_classes=num_classes, weights="none")
    outputs = 1 if num_classes == 2 else num_classes
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, outputs)
    compile_model(model, num_classes, 1e-3)
    model.run_eagerly = True  # tracing a big graph costs more than one tiny eager epoch
    before = _trainable_values(model)
    history = model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert math.isfinite(history.history["loss"][0])
    assert ("top5" in history.history) == (num_classes > 5)
    after = _trainable_values(model)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    # One probability per class for every photo: a sigmoid in [0, 1], or a softmax summing to 1.
    images = np.concatenate([x for x, _ in make_dataset(samples, image_size=32, batch_size=4)])
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (len(samples), outputs)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    if outputs > 1:
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)


def test_baseline_learns_a_separable_task(folder_tree: Path) -> None:
    """Red ellipses against blue boxes: a few epochs take the baseline from chance to right."""
    keras.utils.set_random_seed(0)
    samples = from_folder_tree(folder_tree).subset("train")
    labels = np.array([sample.label for sample in samples])
    assert sorted(np.bincount(labels)) == [12, 12]
    train_set = make_dataset(samples, image_size=32, batch_size=8, training=True)
    model = build_model("baseline", image_size=32, num_classes=2, weights="none")
    compile_model(model, 2, 1e-3)
    history = model.fit(train_set, epochs=6, shuffle=False, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > history["accuracy"][0]
    images = np.concatenate([x for x, _ in make_dataset(samples, image_size=32, batch_size=8)])
    predicted = (model.predict(images, verbose=0)[:, 0] > 0.5).astype(int)
    assert (predicted == labels).mean() >= 0.9


def test_baseline_at_150_is_the_original_network() -> None:
    model = build_model("baseline", image_size=150, num_classes=2)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 64, 128, 128]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 4
    assert model.layers[-2].units == 512
    # The two-car project's input and head: 150×150 RGB in, one sigmoid unit out.
    assert model.input_shape == (None, 150, 150, 3)
    assert model.output_shape == (None, 1)
    assert model.layers[-1].units == 1
    assert model.layers[-1].activation is keras.activations.sigmoid


def test_transfer_base_is_frozen_then_top_unfrozen() -> None:
    model = build_model("mobilenet_v3_small", image_size=32, num_classes=3, weights="none")
    base = transfer_base(model)
    assert base is not None and not base.trainable
    assert unfreeze_top(model, 10) > 0
    trainable = [layer for layer in base.layers if layer.trainable]
    assert trainable and all(layer in base.layers[-10:] for layer in trainable)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)


def test_bad_model_and_weights_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        build_model("resnet9000", image_size=32, num_classes=2)
    with pytest.raises(ConfigError, match="does not exist"):
        build_model("vgg16", image_size=32, num_classes=2, weights=str(tmp_path / "w.h5"))


def test_weights_file_is_loaded(tmp_path: Path) -> None:
    first = build_model("vgg16", image_size=32, num_classes=2, weights="none")
    path = tmp_path / "vgg16_notop.weights.h5"
    transfer_base(first).save_weights(path)
    second = build_model("vgg16", image_size=32, num_classes=2, weights=str(path))
    a, b = transfer_base(first).weights[0], transfer_base(second).weights[0]
    assert (keras.ops.convert_to_numpy(a) == keras.ops.convert_to_numpy(b)).all()


def test_precision_policy() -> None:
    assert choose_policy("auto", 0) == "float32"
    assert choose_policy("auto", 1) == "mixed_float16"
    assert choose_policy("on", 0) == "mixed_bfloat16"
    assert choose_policy("off", 4) == "float32"
    with runtime(TrainConfig(mixed_precision="on")) as rt:
        assert keras.config.dtype_policy().name == "mixed_bfloat16" == rt.policy
        model = build_model("fast_cnn", image_size=32, num_classes=3)
        assert model.layers[1].compute_dtype == "bfloat16"
        assert model.output.dtype == "float32"  # the head stays float32
    assert keras.config.dtype_policy().name == "float32"


def test_transfer_run_freezes_then_fine_tunes(folder_tree: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        model="mobilenet_v3_small",
        image_size=32,
        batch_size=8,
        epochs=1,
        fine_tune_epochs=1,
        weights="none",
        tensorboard=False,
    )
    result = train(config, from_folder_tree(folder_tree), run_dir=tmp_path / "run")
    assert [int(row["epoch"]) for row in read_history(result.run_dir)] == [0, 1]
    assert (result.run_dir / "checkpoints" / "frozen_phase.done").is_file()
    # The fine-tuning phase ran at the lower learning rate.
    assert read_history(result.run_dir)[1]["learning_rate"] == pytest.approx(1e-5)
