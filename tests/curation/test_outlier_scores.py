"""The outlier score: the mean distance to the nearest share of the label, sampled for large
labels without losing the ranking, in memory that grows linearly."""

from __future__ import annotations

import numpy as np

from curation.labels.issues import (
    outlier_scores,
)


def test_outlier_score_ranks_a_small_cluster_of_one_wrong_kind_above_the_cars() -> None:
    # 5 near-identical "documents" among 40 cars of one label: with k = 5 their nearest
    # neighbours would be each other; k grows with the label so they still stand out.
    rng = np.random.default_rng(0)
    cars = rng.normal(0.0, 1.0, (40, 16))
    documents = rng.normal(6.0, 0.05, (5, 16))
    other_label = rng.normal(0.0, 1.0, (30, 16))
    features = np.concatenate([cars, documents, other_label])
    labels = ["swift"] * 45 + ["wagonr"] * 30
    scores = outlier_scores(features, labels, neighbours=5, components=8, neighbour_share=0.15)
    assert scores[40:45].min() > scores[:40].max()
    # A fixed k below the cluster size is what fails (the reason k now grows with the label).
    fixed = outlier_scores(features, labels, neighbours=4, components=8, neighbour_share=0.0)
    assert fixed[40:45].min() < fixed[:40].max()


def _brute_force_outliers(reduced: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The outlier score by definition: every pairwise distance within each label."""
    scores = np.zeros(len(labels))
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        points = reduced[rows]
        distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
        np.fill_diagonal(distances, np.inf)
        mean = np.sort(distances, axis=1)[:, :k].mean(axis=1)
        scores[rows] = mean / np.median(mean)
    return scores


def test_outlier_score_is_the_mean_distance_to_the_nearest_share_of_the_label() -> None:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    features = rng.normal(0.0, 1.0, (2600, 12))
    labels = np.array(["swift"] * 1500 + ["wagonr"] * 1100)
    reduced = PCA(n_components=6, random_state=0).fit_transform(
        StandardScaler().fit_transform(features)
    )
    # Labels below the reference size are scored exactly (k = 15 % of 1,500 and of 1,100),
    # and the chunked queries (1,024 rows each) change nothing.
    expected = _brute_force_outliers(reduced, labels, 225)
    expected[1500:] = _brute_force_outliers(reduced[1500:], labels[1500:], 165)
    scores = outlier_scores(features, list(labels), components=6)
    assert np.allclose(scores, expected, atol=1e-6)


def test_outlier_score_of_a_large_label_samples_its_neighbours_and_keeps_the_ranking() -> None:
    rng = np.random.default_rng(4)
    cars = rng.normal(0.0, 1.0, (3000, 16))
    # 150 near-identical documents (5 %): a fixed small k would let them vouch for each other.
    documents = rng.normal(5.0, 0.05, (150, 16))
    features = np.concatenate([cars, documents])
    labels = ["swift"] * len(features)
    exact = outlier_scores(features, labels, components=8, reference_rows=len(features))
    sampled = outlier_scores(features, labels, components=8, reference_rows=400)
    assert sampled[3000:].min() > sampled[:3000].max()
    assert exact[3000:].min() > exact[:3000].max()
    ranks = np.argsort(np.argsort(sampled)), np.argsort(np.argsort(exact))
    assert np.corrcoef(*ranks)[0, 1] > 0.97
    # Seeded: the same inputs give the same scores.
    assert np.array_equal(
        sampled, outlier_scores(features, labels, components=8, reference_rows=400)
    )


def test_outlier_score_memory_grows_linearly_with_the_label() -> None:
    import tracemalloc

    rng = np.random.default_rng(5)

    def peak(n: int) -> int:
        features = rng.normal(0.0, 1.0, (n, 16)).astype(np.float32)
        tracemalloc.start()
        outlier_scores(features, ["swift"] * n, components=8, reference_rows=500)
        peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak_bytes

    small, large = peak(4000), peak(16000)
    # Linear would be 4x; a full neighbour matrix (k = 15 % of the label) would be 16x.
    assert large < 6 * small, (small, large)
