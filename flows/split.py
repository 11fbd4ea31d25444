"""The ``split`` flow: create or grow the leakage-free split, test set fixed."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curation.splits.build import build_split
from curation.splits.plan import SUBSETS
from flows.progress import reporter
from flows.reporting import markdown_table, publish
from pipeline.settings import Settings
from pipeline.workspace import Workspace


@task(retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def assign_split(
    settings: Settings,
    name: str = "default",
    sizes: list[int] | None = None,
    fractions: list[float] | None = None,
    seed: int | None = None,
    reshuffle: bool = False,
) -> dict[str, Any]:
    """Run :func:`curation.splits.build.build_split`; return its result as plain data."""
    reporter().stage("split")
    with Workspace.open(settings) as ws:
        result = build_split(
            ws, name=name, sizes=sizes, fractions=fractions, seed=seed, reshuffle=reshuffle
        )
    reporter().finish(
        f"{result.name} v{result.version}: "
        + ", ".join(f"{s} {result.total(s)}" for s in SUBSETS)
        + f" ({result.newly_placed} placed now)"
    )
    return result.summary()


@flow(name="split", log_prints=True)
def split_flow(
    settings: Settings,
    name: str = "default",
    sizes: list[int] | None = None,
    fractions: list[float] | None = None,
    seed: int | None = None,
    reshuffle: bool = False,
) -> dict[str, Any]:
    """Create (first run, or ``reshuffle``) or grow the split ``name``; return its counts."""
    result = assign_split(settings, name, sizes, fractions, seed, reshuffle)
    labels = sorted({label for counts in result["counts"].values() for label in counts})
    rows = [
        (subset, *(result["counts"].get(subset, {}).get(label, 0) for label in labels))
        for subset in SUBSETS
    ]
    publish(
        "split-summary",
        f"Split {result['name']} v{result['version']}",
        markdown_table(["subset", *labels], rows)
        + f"\n\nnewly placed: {result['newly_placed']}, withheld (linked to test): "
        f"{result['withheld']}, no longer usable: {result['stale']}",
    )
    return result
