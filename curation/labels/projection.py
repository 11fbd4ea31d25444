"""Standardize and project features with a PCA fit on a sample of rows, applied in chunks.

The linear out-of-fold model (:mod:`curation.labels.probabilities`) reduces each fold's
features this way and the outlier score (:mod:`curation.labels.issues`) every photo's: fit on at
most a few thousand rows, then applied a chunk of rows at a time into one array, so memory beyond
the feature matrix stays bounded whatever the number of photos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def sample_rows(rows: np.ndarray | int, limit: int, rng: np.random.Generator) -> np.ndarray | None:
    """Return a sorted seeded sample of ``limit`` of ``rows`` (an array of row numbers, or a row
    count), or None when there are at most ``limit`` (use them all)."""
    count = rows if isinstance(rows, int) else len(rows)
    if count <= limit:
        return None
    return np.sort(rng.choice(rows, limit, replace=False))


@dataclass(frozen=True)
class Projection:
    """A fitted standardize + PCA; calling it projects rows a chunk at a time."""

    model: Any  # a fitted scikit-learn pipeline
    chunk_rows: int

    def __call__(
        self, features: np.ndarray, rows: np.ndarray | None = None, dtype: type | None = None
    ) -> np.ndarray:
        """Return ``features[rows]`` (every row when None) standardized and projected, as
        ``dtype`` (default: the projection's own), filled in place chunk by chunk: no copy of
        the selected rows at full width, no list of chunks joined at the end."""
        count = len(features) if rows is None else len(rows)
        out: np.ndarray | None = None
        for start in range(0, count, self.chunk_rows):
            end = start + self.chunk_rows
            part = self.model.transform(
                features[start:end] if rows is None else features[rows[start:end]]
            )
            if out is None:
                out = np.empty((count, part.shape[1]), dtype or part.dtype)
            out[start : start + len(part)] = part
        return out if out is not None else np.zeros((0, 0), dtype or np.float64)


def standardized_pca(
    features: np.ndarray,
    components: int,
    fit_rows: np.ndarray | None,
    random_state: int,
    chunk_rows: int,
) -> Projection:
    """Return a :class:`Projection`: standardizing and a ``components``-wide PCA, both fit on
    ``features[fit_rows]`` (every row when None; e.g. :func:`sample_rows`)."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), PCA(n_components=components, random_state=random_state))
    model.fit(features if fit_rows is None else features[fit_rows])
    return Projection(model, chunk_rows)
