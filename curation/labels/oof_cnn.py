"""Out-of-fold predictions and embeddings of a small CNN trained on the catalog's own photos.

This is the offline scoring source: it needs no download. The photos are split into K stratified
folds; for each fold a small CNN is trained on the other folds and then predicts the held-out
photos, so every photo's probabilities come from a model that never saw it. The same model also
returns each held-out photo's embedding (its global-average-pooled last convolution), used for
the outlier score *within that fold* (embeddings of different folds come from different models
and are not comparable).

Why a CNN and not hand-made features: a confident-learning queue only works when the model is
sure of correct photos. On the demo marketplace the hand-made features + logistic regression
reach about 91 % on correct photos, the CNN about 99 % — so wrong-model photos get near-zero
self-confidence, and photos with no car in them land near 0.5, far below the correct ones
(``benchmarks/label_issues.py``). Three folds let each model see 2/3 of the photos, which makes it
surer of the correct ones. Cost on the default demo site (4,900 photos, 48 px, 3 folds,
6 epochs, mirroring): about 155 s CPU on 2 cores.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.labels.classes import encode_labels
from curation.labels.features import load_rgb

# Chosen on the default demo site (benchmarks/label_issues.py, 12 % budget): 2 folds x 8 epochs
# reach recall 0.875 (~100 s CPU), mirroring alone 0.892 (~120 s), 3 folds x 8 epochs 0.908
# (~200 s); 3 folds x 6 epochs with mirroring 0.902 at ~155 s CPU on 2 cores.
CNN_SIZE = 48
CNN_EPOCHS = 6
CNN_FOLDS = 3
CNN_FLIP = True
CNN_SEEDS = 1
CNN_SNAPSHOTS = 1
BATCH_SIZE = 64
# Bump when the network or its training changes, so cached outputs (benchmarks) are recomputed.
CNN_VERSION = 2


@dataclass(frozen=True)
class OutOfFoldCnn:
    """Out-of-fold results for N photos.

    ``probabilities`` ``(N, C)`` over ``classes``; ``embeddings`` ``(N, D)`` (float32);
    ``fold[i]`` is the fold photo i was held out in (compare embeddings only within a fold);
    ``source`` e.g. ``"offline:oof-cnn@48px,3folds,6epochs,flip"``.
    """

    probabilities: np.ndarray
    classes: list[str]
    embeddings: np.ndarray
    fold: np.ndarray
    source: str


def _build(size: int, classes: int, seed: int, flip: bool = False) -> object:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    if flip:
        # Active only while training: a mirrored car is still the same model.
        x = layers.RandomFlip("horizontal", seed=seed)(x)
    for filters in (16, 32, 64, 96):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        # A faster moving average than Keras' 0.99: a few hundred steps must settle it.
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    pooled = layers.GlobalAveragePooling2D(name="embedding")(x)
    x = layers.Dense(64, activation="relu")(pooled)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs)


def _predict_held_out(model: object, held_x: np.ndarray, flip: bool) -> tuple[np.ndarray, ...]:
    """Return ``(probabilities, embeddings)`` of ``held_x``; with ``flip`` the probabilities are
    averaged with those of the mirror images."""
    probs, emb = model.predict(held_x, batch_size=256, verbose=0)  # type: ignore[attr-defined]
    if flip:
        mirrored = model.predict(held_x[:, :, ::-1], batch_size=256, verbose=0)[0]  # type: ignore[attr-defined]
        probs = (probs + mirrored) / 2
    return probs, emb


def _snapshot_callback(
    model: object, held_x: np.ndarray, first_epoch: int, flip: bool, taken: list
) -> object:
    """Return a Keras callback appending :func:`_predict_held_out` to ``taken`` after every
    epoch from ``first_epoch`` (0-based) on."""
    import keras

    def on_epoch_end(epoch: int, logs: object = None) -> None:
        if epoch >= first_epoch:
            taken.append(_predict_held_out(model, held_x, flip))

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def load_pixels(
    paths: Sequence[Path], size: int = CNN_SIZE, progress: Callable[[int], None] | None = None
) -> np.ndarray:
    """Return the photos as a ``(N, size, size, 3)`` uint8 array."""
    out = np.zeros((len(paths), size, size, 3), np.uint8)
    for i, path in enumerate(paths):
        out[i] = load_rgb(path, size)
        if progress is not None:
            progress(i + 1)
    return out


def out_of_fold_cnn(
    pixels: np.ndarray,
    labels: Sequence[str],
    folds: int = CNN_FOLDS,
    epochs: int = CNN_EPOCHS,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
    flip: bool = CNN_FLIP,
    seeds: int = CNN_SEEDS,
    snapshots: int = CNN_SNAPSHOTS,
) -> OutOfFoldCnn:
    """Train one CNN per fold on the other folds; return its predictions on the held-out photos.

    ``pixels`` is ``(N, S, S, 3)`` uint8. Folds are lowered to the smallest label's count (at
    least 2). ``flip`` trains on randomly mirrored photos and averages the held-out predictions
    of each photo and its mirror image; ``seeds`` > 1 trains that many models per fold (same
    split, different initial weights) and averages their probabilities (the embeddings come from
    the first). ``snapshots`` > 1 averages the held-out predictions made after each of the last
    that many epochs (snapshots along the decaying learning rate, at the cost of one held-out
    prediction per epoch). Raises :class:`CarscoutError` with fewer than two labels or a label
    of one photo.
    """
    import keras
    from sklearn.model_selection import StratifiedKFold

    classes, y, counts = encode_labels(labels, "the out-of-fold CNN")
    n_splits = max(2, min(folds, int(counts.min())))
    size = pixels.shape[1]
    probabilities = np.zeros((len(y), len(classes)))
    embeddings: np.ndarray | None = None
    fold_of = np.zeros(len(y), np.int32)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    seeds = max(1, seeds)
    for k, (train, held_out) in enumerate(cv.split(pixels, y)):
        train_x = pixels[train].astype(np.float32)
        held_x = pixels[held_out].astype(np.float32)
        for s in range(seeds):
            model = _build(size, len(classes), seed + k + 1000 * s, flip)
            steps = epochs * int(np.ceil(len(train) / batch_size))
            # Cosine decay to zero: the last epochs settle the weights and batch-norm
            # statistics, which otherwise leave the held-out confidences swinging.
            schedule = keras.optimizers.schedules.CosineDecay(3e-3, max(steps, 1))
            model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy")
            both = keras.Model(model.input, [model.output, model.get_layer("embedding").output])
            taken: list[tuple[np.ndarray, ...]] = []
            first = max(0, epochs - max(1, snapshots))
            model.fit(
                train_x,
                y[train],
                batch_size=batch_size,
                epochs=epochs,
                shuffle=True,
                verbose=0,
                callbacks=[_snapshot_callback(both, held_x, first, flip, taken)],
            )
            probs = np.mean([p for p, _ in taken], axis=0)
            emb = taken[-1][1]
            if embeddings is None:
                embeddings = np.zeros((len(y), emb.shape[1]), np.float32)
            probabilities[held_out] += probs / seeds
            if s == 0:
                embeddings[held_out] = emb
            keras.backend.clear_session()
        fold_of[held_out] = k
    assert embeddings is not None
    source = f"offline:oof-cnn@{size}px,{n_splits}folds,{epochs}epochs"
    if flip:
        source += ",flip"
    if seeds > 1:
        source += f",{seeds}seeds"
    if snapshots > 1:
        source += f",{snapshots}snapshots"
    return OutOfFoldCnn(probabilities, [str(c) for c in classes], embeddings, fold_of, source)
