"""The tf.data input pipeline: crop, order, shuffling, caches and formats (issue 16: it is built
from the pieces ``image_dataset_from_directory`` uses, with the same behaviour as before)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training import input_pipeline
from training.input_pipeline import make_dataset
from training.labelled import Sample

COLOURS = [(220, 30, 30), (30, 60, 220), (30, 200, 60)]


def _photo(path: Path, colour: tuple[int, int, int], fmt: str = "JPEG") -> Path:
    """A 96x64 photo: grey, with a 40x30 block of ``colour`` at (50, 20)."""
    pixels = np.full((64, 96, 3), 128, dtype=np.uint8)
    pixels[20:50, 50:90] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def _samples(tmp_path: Path, count: int = 12) -> list[Sample]:
    """Photos whose block colour is their label, so an image and its label can be matched."""
    return [Sample(_photo(tmp_path / f"{i:02d}.jpg", COLOURS[i % 3]), i % 3) for i in range(count)]


def _epochs(dataset, count: int) -> list[tuple[np.ndarray, np.ndarray]]:  # noqa: ANN001
    """Return ``(images, labels)`` of ``count`` passes over ``dataset``, batches joined."""
    out = []
    for _ in range(count):
        images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset), strict=True)
        out.append((np.concatenate(images), np.concatenate(labels)))
    return out


def _block_label(image: np.ndarray) -> int:
    """The label whose colour the block of a full-photo image (16 px) is nearest to."""
    block = image[8:11, 10:14].reshape(-1, 3).mean(axis=0)
    return int(np.argmin([np.abs(block - np.array(c)).sum() for c in COLOURS]))


def test_batches_are_float32_in_photo_order_without_training(tmp_path: Path) -> None:
    samples = _samples(tmp_path)
    dataset = make_dataset(samples, image_size=16, batch_size=5)
    (images, labels), (again, _) = _epochs(dataset, 2)
    assert images.dtype == np.float32 and images.shape == (12, 16, 16, 3)
    assert images.min() >= 0 and images.max() <= 255
    assert labels.tolist() == [s.label for s in samples]
    assert [_block_label(x) for x in images] == labels.tolist()
    np.testing.assert_array_equal(images, again)  # the cached pass is the first one


def test_training_reshuffles_each_epoch_seeded_with_labels_kept(tmp_path: Path) -> None:
    samples = _samples(tmp_path, 30)
    first = _epochs(make_dataset(samples, image_size=16, batch_size=4, training=True), 3)
    rebuilt = _epochs(make_dataset(samples, image_size=16, batch_size=4, training=True), 1)
    orders = []
    for images, labels in first:
        assert sorted(labels.tolist()) == sorted(s.label for s in samples)  # each photo once
        assert [_block_label(x) for x in images] == labels.tolist()
        orders.append(tuple(images[:, 8, 12, 0].round().tolist()) + tuple(labels.tolist()))
    assert len(set(orders)) > 1  # a new order every epoch
    np.testing.assert_array_equal(first[0][0], rebuilt[0][0])  # the same seed, the same order
    other = _epochs(make_dataset(samples, image_size=16, batch_size=4, training=True, seed=1), 1)
    assert other[0][1].tolist() != first[0][1].tolist()


@pytest.mark.parametrize("training", [False, True])
def test_uint8_cache_gives_the_same_photos_as_the_float_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, training: bool
) -> None:
    samples = _samples(tmp_path)
    kwargs = {"image_size": 16, "batch_size": 5, "training": training}
    float_cached = _epochs(make_dataset(samples, **kwargs), 2)
    monkeypatch.setattr(input_pipeline, "FLOAT_CACHE_BYTES", 0)  # too big for float32: uint8
    uint8_cached = _epochs(make_dataset(samples, **kwargs), 2)
    uncached = _epochs(make_dataset(samples, cache=False, **kwargs), 2)
    for a, b, c in zip(float_cached, uint8_cached, uncached, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[0], c[0])
        assert a[1].tolist() == b[1].tolist() == c[1].tolist()


def test_a_box_crops_the_photo_and_others_are_whole(tmp_path: Path) -> None:
    red = _photo(tmp_path / "red.jpg", COLOURS[0])
    samples = [Sample(red, 0, (50, 20, 90, 50)), Sample(red, 0), Sample(red, 0, (0, 0, 40, 64))]
    ((images, _),) = _epochs(make_dataset(samples, image_size=8, batch_size=3), 1)
    assert np.abs(images[0] - np.array(COLOURS[0])).max() < 12  # all block
    assert np.abs(images[2] - 128).max() < 12  # all grey: the box left of the block
    whole = images[1].reshape(-1, 3)
    assert (np.abs(whole - 128).max(axis=1) < 12).any()
    assert (np.abs(whole - np.array(COLOURS[0])).max(axis=1) < 12).any()


def test_a_box_beyond_the_photo_is_clamped(tmp_path: Path) -> None:
    red = _photo(tmp_path / "red.jpg", COLOURS[0])
    samples = [Sample(red, 0, (80, 40, 500, 500)), Sample(red, 0, (80, 40, 96, 64))]
    ((images, _),) = _epochs(make_dataset(samples, image_size=4, batch_size=2), 1)
    np.testing.assert_array_equal(images[0], images[1])


def test_png_photos_decode_like_jpeg(tmp_path: Path) -> None:
    png = _photo(tmp_path / "a.png", COLOURS[1], fmt="PNG")
    jpeg = _photo(tmp_path / "a.jpg", COLOURS[1])
    ((images, _),) = _epochs(
        make_dataset([Sample(png, 1), Sample(jpeg, 1)], image_size=16, batch_size=2), 1
    )
    assert np.abs(images[0] - images[1]).mean() < 3
    assert _block_label(images[0]) == 1


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        make_dataset([], image_size=16, batch_size=2)
