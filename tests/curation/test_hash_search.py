"""The exact Hamming search agrees with brute force, whichever engine runs it."""

from __future__ import annotations

import numpy as np
import pytest

from curation.dedup.search import (
    brute_force_pairs,
    choose_method,
    cross_pairs,
    hex_to_uint64,
    pairs_within,
    uint64_to_hex,
)

ENGINES = ("mih", "faiss", "numpy", "auto")


def _random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)


def _plant_near_copies(rng: np.random.Generator, hashes: np.ndarray, count: int) -> None:
    """Overwrite the last ``count`` hashes with copies of the first ones, 0-12 bits flipped."""
    for k in range(count):
        flips = rng.choice(64, size=int(rng.integers(0, 13)), replace=False)
        mask = sum(1 << int(b) for b in flips)
        hashes[-1 - k] = hashes[k] ^ np.uint64(mask)


@pytest.fixture(scope="module")
def hashes() -> np.ndarray:
    rng = np.random.default_rng(7)
    values = _random_hashes(rng, 3000)
    _plant_near_copies(rng, values, 250)
    values[10] = values[11]  # an exact pair, distance 0
    return values


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("threshold", [0, 2, 5, 8, 11])
def test_self_search_matches_brute_force(hashes: np.ndarray, engine: str, threshold: int) -> None:
    expected = brute_force_pairs(hashes, None, threshold)
    found = pairs_within(hashes, threshold, engine)
    assert len(expected) > 0
    np.testing.assert_array_equal(found, expected)
    assert (found[:, 0] < found[:, 1]).all()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("threshold", [0, 4, 9])
def test_cross_search_matches_brute_force(hashes: np.ndarray, engine: str, threshold: int) -> None:
    rng = np.random.default_rng(threshold)
    queries = _random_hashes(rng, 700)
    queries[:300] = hashes[rng.choice(len(hashes), 300)] ^ np.uint64(0b1011)  # distance 3
    expected = brute_force_pairs(queries, hashes, threshold)
    np.testing.assert_array_equal(cross_pairs(queries, hashes, threshold, engine), expected)


def test_mih_is_chosen_for_large_sets_and_brute_force_for_small() -> None:
    assert choose_method(1_000_000, 1_000_000, 8, True) == "mih"
    assert choose_method(200, 200, 8, True) in {"faiss", "numpy"}


def test_empty_and_single_inputs_give_no_pairs() -> None:
    one = np.array([5], dtype=np.uint64)
    assert pairs_within(np.array([], dtype=np.uint64), 3).shape == (0, 3)
    assert pairs_within(one, 64).shape == (0, 3)
    assert cross_pairs(one, np.array([], dtype=np.uint64), 3).shape == (0, 3)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="uint64"):
        pairs_within(np.array([1, 2]), 3)
    with pytest.raises(ValueError, match="threshold"):
        pairs_within(np.array([1, 2], dtype=np.uint64), 65)
    with pytest.raises(ValueError, match="method"):
        pairs_within(np.array([1, 2], dtype=np.uint64), 3, "annoy")  # type: ignore[arg-type]


def test_hex_round_trip_keeps_the_top_bit() -> None:
    values = ["ffffffffffffffff", "8000000000000001", "0000000000000000"]
    assert [uint64_to_hex(v) for v in hex_to_uint64(values)] == values
