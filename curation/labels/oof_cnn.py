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

import mmap
import os
import random
import tempfile
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from curation.labels.classes import encode_labels
from curation.labels.features import load_rgb
from curation.labels.fold_tasks import out_of_fold
from pipeline.errors import CarscoutError

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
# 3: batches streamed from uint8 pixels in a seeded order of our own (was Keras' shuffle).
CNN_VERSION = 3
PREDICT_BATCH = 256
# Each fold's model trains on at most this many photos of each label (a seeded sample of the
# other folds), so training costs the same from ~7,500 photos a label on and only decoding and
# predicting grow with the catalog (benchmarks/scale.py). The demo site (~2,450 a label) and
# realcars-dev (~620) train on every photo of the other folds, as before.
CNN_TRAIN_PER_LABEL = 2500
# Pixels beyond this many bytes (~4,800 photos at 48 px) live in a temporary file (1M photos:
# 6.9 GB), of which a process holds only the pages in use: a few thousand photos' at a time.
# 512 MB kept up to 76,000 photos' in memory, so peak memory grew 7 KB a photo to there.
PIXELS_IN_MEMORY_BYTES = 32 * 2**20
# While decoding, hand written pages back to the file every so many photos.
RELEASE_EVERY = 4096
# The descriptor of each file-backed pixel buffer's temporary file, by id of its mapping.
_PIXEL_FILES: dict[int, int] = {}


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
    """Return the untrained CNN; the same ``seed`` gives the same initial weights and dropout
    and flip draws in any process and thread."""
    import keras
    from keras import initializers, layers

    keras.utils.set_random_seed(seed)
    # Every random layer is seeded from a generator of this model's own, drawn in the order
    # Keras drew them from Python's global one (the same weights as before). On a Dask worker
    # other threads draw from the global one while a model is built: a fold trained there
    # gave probabilities up to 0.29 apart from the same fold trained here.
    draws = random.Random(seed)

    def glorot() -> object:
        return initializers.GlorotUniform(seed=draws.randint(1, int(1e9)))

    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 255)(inputs)
    if flip:
        # Active only while training: a mirrored car is still the same model.
        x = layers.RandomFlip("horizontal", seed=seed)(x)
    for filters in (16, 32, 64, 96):
        kernel = glorot()
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=kernel)(x)
        # A faster moving average than Keras' 0.99: a few hundred steps must settle it.
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    pooled = layers.GlobalAveragePooling2D(name="embedding")(x)
    x = layers.Dense(64, activation="relu", kernel_initializer=glorot())(pooled)
    x = layers.Dropout(0.2, seed=draws.randint(1, int(1e9)))(x)
    outputs = layers.Dense(
        classes, activation="softmax", dtype="float32", kernel_initializer=glorot()
    )(x)
    return keras.Model(inputs, outputs)


def _file_of(pixels: np.ndarray) -> int | None:
    """Return the open descriptor of the temporary file under a file-backed
    :func:`pixel_buffer` (the whole array, not a view of part of it), else None."""
    base = pixels.base
    if isinstance(base, mmap.mmap) and pixels.flags.c_contiguous:
        return _PIXEL_FILES.get(id(base))
    return None


def _mapped(pixels: np.ndarray) -> bool:
    """Return whether ``pixels`` lies on a memory mapping (a file-backed :func:`pixel_buffer`)."""
    base = pixels
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return isinstance(base, mmap.mmap)


def read_rows(pixels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return ``pixels[rows]`` (``rows`` sorted) as a new uint8 array.

    From a file-backed :func:`pixel_buffer` the rows are read with ``preadv`` (a run of
    consecutive rows in one call) instead of through the mapping: a mapped read also maps the
    file's cached neighbours into the process (fault-around, large folios), so random batches
    soon held the whole file in its resident memory."""
    fd = _file_of(pixels)
    if fd is None:
        return pixels[rows]
    out = np.empty((len(rows), *pixels.shape[1:]), np.uint8)
    flat = out.reshape(len(rows), -1)
    row_bytes = flat.shape[1]
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    for first, end in zip(
        np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]]), strict=True
    ):
        want = int(end - first) * row_bytes
        got = os.preadv(fd, [memoryview(flat[first:end]).cast("B")], int(rows[first]) * row_bytes)
        if got != want:
            raise CarscoutError(f"the temporary pixel file ended early ({got} of {want} bytes)")
    return out


def _floats(pixels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return the photos ``rows`` (sorted) of uint8 ``pixels`` as one float32 batch."""
    return read_rows(pixels, rows).astype(np.float32)


def _predict_held_out(
    model: object, pixels: np.ndarray, rows: np.ndarray, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(probabilities, embeddings)`` of the photos ``rows`` (sorted), predicted
    :data:`PREDICT_BATCH` at a time; with ``flip`` the probabilities are averaged with those of
    the mirror images."""
    probs, embs = [], []
    for start in range(0, len(rows), PREDICT_BATCH):
        batch = _floats(pixels, rows[start : start + PREDICT_BATCH])
        p, emb = model.predict_on_batch(batch)  # type: ignore[attr-defined]
        if flip:
            mirrored = np.ascontiguousarray(batch[:, :, ::-1])
            p = (p + model.predict_on_batch(mirrored)[0]) / 2  # type: ignore[attr-defined]
        probs.append(np.asarray(p))
        embs.append(np.asarray(emb))
    return np.concatenate(probs), np.concatenate(embs)


def pixel_buffer(count: int, size: int, in_memory_bytes: int | None = None) -> np.ndarray:
    """Return a zeroed ``(count, size, size, 3)`` uint8 array for photos' pixels.

    It is held in memory when it takes at most ``in_memory_bytes`` (default
    :data:`PIXELS_IN_MEMORY_BYTES`), else mapped onto a
    temporary file (in ``$TMPDIR``, already unlinked, so it goes with the array and never
    outlives the process), whose pages the kernel writes out and drops as memory runs short.
    Raises :class:`CarscoutError` when the temporary folder has no room for it.
    """
    shape = (count, size, size, 3)
    nbytes = count * size * size * 3
    if nbytes <= (PIXELS_IN_MEMORY_BYTES if in_memory_bytes is None else in_memory_bytes):
        return np.zeros(shape, np.uint8)
    try:
        with tempfile.TemporaryFile(prefix="carscout-pixels-") as handle:
            # Reserved up front: a mapped write that finds the disk full kills the process.
            os.posix_fallocate(handle.fileno(), 0, nbytes)
            mapping = mmap.mmap(handle.fileno(), nbytes)
            # Kept open for read_rows, closed with the mapping.
            fd = os.dup(handle.fileno())
    except OSError as exc:
        raise CarscoutError(
            f"cannot keep {nbytes / 2**30:.1f} GiB of photo pixels in {tempfile.gettempdir()} "
            f"({exc.strerror or exc}); set TMPDIR to a folder with more free space"
        ) from exc
    _PIXEL_FILES[id(mapping)] = fd
    weakref.finalize(mapping, _close_pixel_file, id(mapping), fd)
    return np.ndarray(shape, np.uint8, buffer=mapping)


def _close_pixel_file(key: int, fd: int) -> None:
    _PIXEL_FILES.pop(key, None)
    os.close(fd)


def release_pages(pixels: np.ndarray) -> None:
    """Drop the pages of a file-backed :func:`pixel_buffer` from this process's memory (the
    file keeps them; they are read back when used again). Does nothing to an in-memory array."""
    base = pixels
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        base.madvise(mmap.MADV_DONTNEED)


def load_pixels(
    paths: Sequence[Path],
    size: int = CNN_SIZE,
    progress: Callable[[int], None] | None = None,
    in_memory_bytes: int | None = None,
) -> np.ndarray:
    """Return the photos as a ``(N, size, size, 3)`` uint8 array (:func:`pixel_buffer`: on a
    temporary file beyond ``in_memory_bytes``), decoding one photo at a time."""
    out = pixel_buffer(len(paths), size, in_memory_bytes)
    for i, path in enumerate(paths):
        out[i] = load_rgb(path, size)
        if progress is not None:
            progress(i + 1)
        if (i + 1) % RELEASE_EVERY == 0:
            release_pages(out)
    release_pages(out)
    return out


def training_sample(
    train: np.ndarray, y: np.ndarray, per_label: int | None, seed: Sequence[int]
) -> np.ndarray:
    """Return the rows of ``train`` (sorted) a fold's model trains on: all of them, or a seeded
    sample of at most ``per_label`` rows of each label (``y`` gives every row's label) when a
    label has more. ``None`` keeps them all."""
    if per_label is None or np.bincount(y[train]).max() <= per_label:
        return train
    rng = np.random.default_rng(list(seed))
    kept = []
    for label in np.unique(y[train]):
        rows = train[y[train] == label]
        if len(rows) > per_label:
            rows = rng.choice(rows, per_label, replace=False)
        kept.append(rows)
    return np.sort(np.concatenate(kept))


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
    train_per_label: int | None = CNN_TRAIN_PER_LABEL,
) -> OutOfFoldCnn:
    """Train one CNN per fold on the other folds; return its predictions on the held-out photos.

    ``pixels`` is ``(N, S, S, 3)`` uint8, in memory or file-backed (:func:`load_pixels`): the
    folds index into it and only one batch at a time is converted to float, so memory beyond
    ``pixels`` stays a few batches whatever N. The same inputs and ``seed`` give the same
    results. Folds are lowered to the smallest label's count (at least 2). ``flip`` trains on
    randomly mirrored photos and averages the held-out predictions of each photo and its
    mirror image; ``seeds`` > 1 trains that many models per fold (same split, different
    initial weights) and averages their probabilities (the embeddings come from the first).
    ``snapshots`` > 1 averages the held-out predictions made after each of the last that many
    epochs (snapshots along the decaying learning rate, at the cost of one held-out prediction
    per epoch). ``train_per_label`` caps each fold's training photos per label
    (:func:`training_sample`; every held-out photo is still predicted, so cost beyond the cap
    grows only with decoding and prediction); None trains on all. Raises
    :class:`CarscoutError` with fewer than two labels or a label of one photo.
    """
    classes, y, _ = encode_labels(labels, "the out-of-fold CNN")

    def task(k: int, every: np.ndarray, held_out: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        return k, training_sample(every, y, train_per_label, [seed, k, 7919]), held_out

    fit = partial(
        _cnn_fold, pixels, y, len(classes), epochs, seed, batch_size, flip, seeds, snapshots
    )
    # In memory, the pixels go once to wherever fold_map sends the folds (a cluster's workers:
    # the folds give the same results there); a memory-mapped pixel file is this process's.
    found = out_of_fold(fit, y, len(classes), folds, seed, task, here=_mapped(pixels))
    n_splits = len(found.tasks)
    # A fold trained on a sample when it has fewer rows than every photo outside it.
    sampled = any(len(train) < len(y) - len(held) for _, train, held in found.tasks)
    embeddings = np.zeros((len(y), found.results[0][1].shape[1]), np.float32)
    for (_, _, held_out), (_, emb) in zip(found.tasks, found.results, strict=True):
        embeddings[held_out] = emb
    size = pixels.shape[1]
    source = f"offline:oof-cnn@{size}px,{n_splits}folds,{epochs}epochs"
    if flip:
        source += ",flip"
    if seeds > 1:
        source += f",{seeds}seeds"
    if snapshots > 1:
        source += f",{snapshots}snapshots"
    if sampled:
        source += f",train<={train_per_label}/label"
    return OutOfFoldCnn(
        found.probabilities, [str(c) for c in classes], embeddings, found.fold, source
    )


def _cnn_fold(
    pixels: np.ndarray,
    y: np.ndarray,
    classes: int,
    epochs: int,
    seed: int,
    batch_size: int,
    flip: bool,
    seeds: int,
    snapshots: int,
    task: tuple[int, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Return fold ``k``'s ``(probabilities, embeddings)`` of its held-out photos from models
    trained on its ``train`` rows (``task`` = k, train, held-out rows): ``seeds`` models'
    probabilities averaged, the first one's embeddings."""
    import keras

    k, train, held_out = task
    seeds = max(1, seeds)
    probabilities = np.zeros((len(held_out), classes))
    embeddings = np.zeros((0, 0), np.float32)
    for s in range(seeds):
        model = _build(pixels.shape[1], classes, seed + k + 1000 * s, flip)
        steps = epochs * int(np.ceil(len(train) / batch_size))
        # Cosine decay to zero: the last epochs settle the weights and batch-norm
        # statistics, which otherwise leave the held-out confidences swinging.
        schedule = keras.optimizers.schedules.CosineDecay(3e-3, max(steps, 1))
        model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy")
        both = keras.Model(model.input, [model.output, model.get_layer("embedding").output])
        taken: list[tuple[np.ndarray, np.ndarray]] = []
        first = max(0, epochs - max(1, snapshots))
        shuffler = np.random.default_rng([seed, k, s])
        for epoch in range(epochs):
            order = shuffler.permutation(train)
            for start in range(0, len(order), batch_size):
                # Sorted within the batch: the same batch, read in file order.
                rows = np.sort(order[start : start + batch_size])
                model.train_on_batch(_floats(pixels, rows), y[rows])
            if epoch >= first:
                taken.append(_predict_held_out(both, pixels, held_out, flip))
        probabilities += np.mean([p for p, _ in taken], axis=0) / seeds
        if s == 0:
            embeddings = taken[-1][1].astype(np.float32)
        keras.backend.clear_session()
    return probabilities, embeddings
