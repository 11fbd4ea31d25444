"""Connected components: the one grouping mechanism of dedup groups and split units."""

from __future__ import annotations

import random

import numpy as np

from curation.dedup.components import component_labels, connected_groups


def _reachable_groups(edges: list[tuple[int, int]]) -> list[list[int]]:
    """Reference answer: grow each group by repeated sweeps over the edges."""
    groups: list[set[int]] = []
    for a, b in edges:
        touching = [g for g in groups if a in g or b in g]
        merged = {a, b}.union(*touching)
        groups = [g for g in groups if g not in touching] + [merged]
    return sorted(sorted(g) for g in groups)


def test_groups_match_a_plain_reachability_answer() -> None:
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(1, 40)
        edges = [(rng.randrange(3 * n), rng.randrange(3 * n)) for _ in range(rng.randint(0, n))]
        assert connected_groups(edges) == _reachable_groups(edges)


def test_groups_are_sorted_and_ordered_by_smallest_id() -> None:
    assert connected_groups([(5, 1), (7, 9), (9, 2)]) == [[1, 5], [2, 7, 9]]
    assert connected_groups([]) == []


def test_labels_number_components_by_their_smallest_node() -> None:
    labels = component_labels(5, np.array([3, 0]), np.array([4, 2]))
    assert labels.tolist() == [0, 1, 0, 2, 2]
    assert component_labels(3, np.empty(0), np.empty(0)).tolist() == [0, 1, 2]
