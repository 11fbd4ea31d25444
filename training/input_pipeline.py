"""The ``tf.data`` input pipeline: parallel decode, crop and resize, cache, shuffle, augment,
batch and prefetch, built from the pieces ``keras.utils.image_dataset_from_directory`` uses.

Images leave the pipeline as float32 in 0–255; each model does its own rescaling inside the
network, so ``predict`` only needs this same decode-and-resize step. Augmentation runs here, on
the CPU threads of ``tf.data`` and overlapped with training by ``prefetch``, rather than inside
the model, so that the saved model is the same whether or not a run augmented.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from training.labelled import Sample

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 4096


def augmentation(seed: int) -> keras.Sequential:
    """Return the random augmentation: flip, rotation, zoom, translation and contrast.

    Used only on training batches; it is not part of any saved model.
    """
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.08, seed=seed + 1),
            keras.layers.RandomZoom(0.15, seed=seed + 2),
            keras.layers.RandomTranslation(0.1, 0.1, seed=seed + 3),
            keras.layers.RandomContrast(0.2, seed=seed + 4),
        ],
        name="augmentation",
    )


# A cache of finished float32 photos saves a cast per batch every epoch but takes four times
# the memory of uint8; up to this size the speed wins.
FLOAT_CACHE_BYTES = 1 << 30


def _decode(path: tf.Tensor) -> tf.Tensor:
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def _resize(image: tf.Tensor, image_size: int) -> tf.Tensor:
    # Bilinear without antialiasing, as keras.utils.image_dataset_from_directory resizes: the
    # antialiasing filter halved the photos decoded per second (benchmarks/train.py).
    resized = tf.image.resize(image, (image_size, image_size))
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def decode_whole(path: tf.Tensor, image_size: int) -> tf.Tensor:
    """Return the photo at ``path`` resized to a ``(image_size, image_size, 3)`` uint8 tensor."""
    return _resize(_decode(path), image_size)


def decode_and_resize(path: tf.Tensor, bbox: tf.Tensor, image_size: int) -> tf.Tensor:
    """Return one photo as a ``(image_size, image_size, 3)`` uint8 tensor.

    ``bbox`` is ``[x1, y1, x2, y2]``; ``[-1, -1, -1, -1]`` means "no box". The box is clamped
    to the image before cropping.
    """
    image = _decode(path)

    def crop() -> tf.Tensor:
        shape = tf.shape(image)
        height, width = shape[0], shape[1]
        x1 = tf.clip_by_value(bbox[0], 0, width - 1)
        y1 = tf.clip_by_value(bbox[1], 0, height - 1)
        x2 = tf.clip_by_value(bbox[2], x1 + 1, width)
        y2 = tf.clip_by_value(bbox[3], y1 + 1, height)
        return image[y1:y2, x1:x2, :]

    return _resize(tf.cond(bbox[0] >= 0, crop, lambda: image), image_size)


def _tensors(samples: Sequence[Sample]) -> tuple[list[str], np.ndarray, np.ndarray]:
    paths = [str(s.path) for s in samples]
    labels = np.array([s.label for s in samples], dtype=np.int32)
    boxes = np.array(
        [s.bbox if s.bbox is not None else (-1, -1, -1, -1) for s in samples], dtype=np.int32
    )
    return paths, labels, boxes.reshape(-1, 4)


def make_dataset(
    samples: Sequence[Sample],
    *,
    image_size: int,
    batch_size: int,
    training: bool = False,
    augment: bool = False,
    seed: int = 0,
    cache: bool = True,
) -> tf.data.Dataset:
    """Return a dataset of ``(images, labels)`` batches: float32 ``(B, S, S, 3)`` in 0–255 and
    int32 ``(B,)``.

    With ``training`` the photos are shuffled every epoch (seeded) and, with ``augment``,
    augmented; otherwise the order is the order of ``samples``. With ``cache`` each file is
    read once per run: a training set keeps its decoded photos in memory (the shuffle needs
    single photos), any other set its finished batches, since their order never changes. Both
    are kept as float32 (no cast per epoch, as ``image_dataset_from_directory(...).cache()``)
    while that takes at most ``FLOAT_CACHE_BYTES``, else as uint8 (a quarter of the memory).
    Photos without a box skip the crop step.
    """
    if not samples:
        raise ValueError("make_dataset needs at least one sample")
    paths, labels, boxes = _tensors(samples)
    if training:
        # The cache freezes the order of the files, so mix classes before it; the shuffle
        # buffer after it then only has to mix locally.
        order = np.random.default_rng(seed).permutation(len(paths))
        paths, labels, boxes = [paths[i] for i in order], labels[order], boxes[order]
    float_cache = cache and len(paths) * image_size * image_size * 3 * 4 <= FLOAT_CACHE_BYTES
    if (boxes >= 0).any():
        dataset = tf.data.Dataset.from_tensor_slices((paths, labels, boxes)).map(
            lambda p, y, b: (decode_and_resize(p, b, image_size), y),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    else:
        dataset = tf.data.Dataset.from_tensor_slices((paths, labels)).map(
            lambda p, y: (decode_whole(p, image_size), y),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    if training:
        if float_cache:
            dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y)).cache()
        elif cache:
            dataset = dataset.cache()
        dataset = dataset.shuffle(
            min(len(paths), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True
        ).batch(batch_size)
        if not float_cache:
            dataset = dataset.map(
                lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=AUTOTUNE
            )
    else:
        dataset = dataset.batch(batch_size)
        if cache and not float_cache:
            dataset = dataset.cache()
        dataset = dataset.map(
            lambda x, y: (tf.cast(x, tf.float32), y),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
        if float_cache:
            dataset = dataset.cache()
    if training and augment:
        layers = augmentation(seed)
        dataset = dataset.map(
            lambda x, y: (layers(x, training=True), y), num_parallel_calls=AUTOTUNE
        )
    return dataset.prefetch(AUTOTUNE)
