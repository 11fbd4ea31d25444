"""Reading stored splits: versions, their assignments, and which images are usable.

The one place that reads the ``splits`` and ``split_assignments`` tables for the rest of the
project (training, export): :func:`read_split` returns a version with its assignments, each
under the image's current label and with its file in the store; :func:`load_split`,
:func:`get_split` and :func:`split_versions` return parts of that.

Usable images: ``status == 'active'`` and no ``pending`` review item (unless the version was
built with ``include_pending``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from curation.splits.plan import SUBSETS
from pipeline import schema as t
from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace

DEFAULT_NAME = "default"


@dataclass(frozen=True)
class Assignment:
    """One image's place in a split.

    ``label`` is the image's current label (review may have corrected it since);
    ``assigned_label`` the label it had when it was placed. ``path`` is the file in the store.
    """

    image_id: int
    subset: str
    label: str
    assigned_label: str
    sha256: str
    path: Path
    listing_id: int | None
    usable: bool


@dataclass(frozen=True)
class SplitInfo:
    """One stored split version: its row in ``splits`` (``params`` holds sizes, targets, …)."""

    split_id: int
    name: str
    version: int
    seed: int
    params: dict[str, Any]
    created_at: Any
    updated_at: Any


@dataclass(frozen=True)
class StoredSplit:
    """A split version and its assignments, read together (see :func:`read_split`)."""

    info: SplitInfo
    assignments: list[Assignment]


def usable_condition(include_pending: bool) -> sa.ColumnElement[bool]:
    """Return the SQL condition on ``images`` that makes an image usable for a split."""
    condition = t.images.c.status == "active"
    if not include_pending:
        pending = (
            sa.select(t.review_items.c.id)
            .where(t.review_items.c.image_id == t.images.c.id, t.review_items.c.state == "pending")
            .exists()
        )
        condition = sa.and_(condition, ~pending)
    return condition


def usable_labels(conn: Connection, include_pending: bool) -> dict[int, str]:
    """Return ``{image_id: label}`` of every image usable for a split."""
    rows = conn.execute(
        sa.select(t.images.c.id, t.images.c.label).where(usable_condition(include_pending))
    )
    return {int(row.id): row.label for row in rows}


def latest_split(conn: Connection, name: str) -> Any | None:
    """Return the ``splits`` row of the newest version of ``name``, or None when there is none."""
    return conn.execute(
        sa.select(t.splits).where(t.splits.c.name == name).order_by(t.splits.c.version.desc())
    ).first()


def _find_split(conn: Connection, name: str, version: int | None) -> Any:
    if version is None:
        row = latest_split(conn, name)
    else:
        row = conn.execute(
            sa.select(t.splits).where(t.splits.c.name == name, t.splits.c.version == version)
        ).first()
    if row is None:
        which = f"split {name!r}" + (f" version {version}" if version is not None else "")
        raise CarscoutError(
            f"{which} does not exist; run `carscout split --name {name} --sizes 2400,800,800` "
            "first (or check `--version`)"
        )
    return row


def _info(row: Any) -> SplitInfo:
    return SplitInfo(
        split_id=int(row.id),
        name=row.name,
        version=int(row.version),
        seed=int(row.seed),
        params=dict(row.params),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _assignments(
    conn: Connection, workspace: Workspace, split: Any, include_unusable: bool
) -> list[Assignment]:
    include_pending = bool(dict(split.params).get("include_pending", False))
    usable = usable_condition(include_pending).label("usable")
    rows = conn.execute(
        sa.select(
            t.split_assignments.c.image_id,
            t.split_assignments.c.subset,
            t.split_assignments.c.label.label("assigned_label"),
            t.images.c.label,
            t.images.c.sha256,
            t.images.c.store_path,
            t.images.c.listing_id,
            usable,
        )
        .join(t.images, t.images.c.id == t.split_assignments.c.image_id)
        .where(t.split_assignments.c.split_id == split.id)
    ).all()
    assignments = [
        Assignment(
            image_id=int(row.image_id),
            subset=row.subset,
            label=row.label,
            assigned_label=row.assigned_label,
            sha256=row.sha256,
            path=workspace.store.path(row.store_path),
            listing_id=row.listing_id,
            usable=bool(row.usable),
        )
        for row in rows
        if include_unusable or row.usable
    ]
    assignments.sort(key=lambda a: (SUBSETS.index(a.subset), a.label, a.image_id))
    return assignments


def read_split(
    workspace: Workspace,
    name: str = DEFAULT_NAME,
    version: int | None = None,
    include_unusable: bool = False,
) -> StoredSplit:
    """Return split ``name`` at ``version`` (default: the latest) with its assignments.

    Version and assignments are read in one transaction, so they always belong together. The
    assignments are those of :func:`load_split`. Raises :class:`CarscoutError` when the split
    does not exist.
    """
    with workspace.catalog.reading() as conn:
        split = _find_split(conn, name, version)
        return StoredSplit(_info(split), _assignments(conn, workspace, split, include_unusable))


def load_split(
    workspace: Workspace,
    name: str = DEFAULT_NAME,
    version: int | None = None,
    include_unusable: bool = False,
) -> list[Assignment]:
    """Return the assignments of split ``name`` (latest version unless ``version`` is given).

    Sorted by subset (train, validation, test), then label, then image id. Images that are no
    longer usable are left out unless ``include_unusable`` (their ``usable`` is then False).
    Raises :class:`CarscoutError` when the split does not exist.
    """
    return read_split(workspace, name, version, include_unusable).assignments


def get_split(
    workspace: Workspace, name: str = DEFAULT_NAME, version: int | None = None
) -> SplitInfo:
    """Return split ``name`` at ``version`` (default: the latest); raise if it does not exist."""
    with workspace.catalog.reading() as conn:
        return _info(_find_split(conn, name, version))


def split_versions(workspace: Workspace, name: str = DEFAULT_NAME) -> list[int]:
    """Return the stored versions of split ``name``, oldest first (empty when there is none)."""
    with workspace.catalog.reading() as conn:
        return [
            int(version)
            for version in conn.execute(
                sa.select(t.splits.c.version)
                .where(t.splits.c.name == name)
                .order_by(t.splits.c.version)
            ).scalars()
        ]
