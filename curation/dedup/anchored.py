"""Groups that cannot chain: a photo joins a group only through the group's kept copy.

Connected components join two photos whenever a path of accepted pairs links them, so one
wrong pair (two drawn cars of one model, two stock shots) merges everything on both sides.
:func:`anchored_groups` instead walks the photos of each component best copy first (the copy a
group keeps) and lets a photo join a group only when it was verified against that group's kept
copy, or against more than half of its members; otherwise it starts a group of its own. A chain
A≈B, B≈C with A≠C therefore stays apart unless B is the kept copy of both, which is what a
repost family looks like (both are copies of B).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from curation.dedup.components import connected_groups


def anchored_groups(
    edges: Iterable[tuple[int, int]],
    quality: Callable[[int], Sequence[int] | tuple[int, ...]],
) -> list[list[int]]:
    """Return groups of ids, each with its kept copy (the best ``quality``) first.

    ``edges`` are the verified pairs; ``quality(id)`` sorts larger-is-better. Ids in no edge
    are in no group, and a group of one is dropped. E.g. the edges ``(1, 2), (2, 3)`` with id 2
    best give ``[[2, 1, 3]]``; with id 1 best they give ``[[1, 2]]`` (3 verified only with 2).
    """
    pairs = {(min(a, b), max(a, b)) for a, b in edges if a != b}

    def linked(a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in pairs

    out: list[list[int]] = []
    for component in connected_groups(pairs):
        groups: list[list[int]] = []
        for photo in sorted(component, key=quality, reverse=True):
            for group in groups:
                votes = sum(linked(photo, member) for member in group)
                if linked(photo, group[0]) or votes * 2 > len(group):
                    group.append(photo)
                    break
            else:
                groups.append([photo])
        out += [g for g in groups if len(g) > 1]
    return out
