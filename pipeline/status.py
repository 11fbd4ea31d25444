"""What is in the catalog: counts by label and status, by split, and review progress."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline import schema as t


@dataclass
class CatalogStatus:
    """Counts for ``carscout status``.

    ``by_label_status`` maps ``(label, status)`` to a count, e.g. ``{("swift", "active"): 2010}``;
    ``by_split`` maps ``(split name@version, subset)`` to a count; ``review`` maps
    ``(reason, state)`` of review items to a count, e.g. ``{("wrong model?", "pending"): 30}``;
    ``failures`` maps ``(stage, reason)`` to a count.
    """

    by_label_status: dict[tuple[str, str], int] = field(default_factory=dict)
    by_split: dict[tuple[str, str], int] = field(default_factory=dict)
    review: dict[tuple[str, str], int] = field(default_factory=dict)
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    listings: int = 0

    @property
    def images(self) -> int:
        """Return the number of images of any status."""
        return sum(self.by_label_status.values())


def catalog_status(conn: Connection) -> CatalogStatus:
    """Return a :class:`CatalogStatus` read from ``conn``."""
    status = CatalogStatus()
    rows = conn.execute(
        sa.select(t.images.c.label, t.images.c.status, sa.func.count())
        .group_by(t.images.c.label, t.images.c.status)
        .order_by(t.images.c.label, t.images.c.status)
    )
    status.by_label_status = {(r[0], r[1]): r[2] for r in rows}
    latest = (
        sa.select(t.splits.c.name, sa.func.max(t.splits.c.version).label("version"))
        .group_by(t.splits.c.name)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            t.splits.c.name, t.splits.c.version, t.split_assignments.c.subset, sa.func.count()
        )
        .join(t.split_assignments, t.split_assignments.c.split_id == t.splits.c.id)
        .join(
            latest,
            sa.and_(latest.c.name == t.splits.c.name, latest.c.version == t.splits.c.version),
        )
        .group_by(t.splits.c.name, t.splits.c.version, t.split_assignments.c.subset)
    )
    status.by_split = {(f"{r[0]}@v{r[1]}", r[2]): r[3] for r in rows}
    rows = conn.execute(
        sa.select(t.review_items.c.reason, t.review_items.c.state, sa.func.count()).group_by(
            t.review_items.c.reason, t.review_items.c.state
        )
    )
    status.review = {(r[0], r[1]): r[2] for r in rows}
    rows = conn.execute(
        sa.select(t.failures.c.stage, t.failures.c.reason, sa.func.count()).group_by(
            t.failures.c.stage, t.failures.c.reason
        )
    )
    status.failures = {(r[0], r[1]): r[2] for r in rows}
    status.listings = conn.execute(sa.select(sa.func.count()).select_from(t.listings)).scalar_one()
    return status
