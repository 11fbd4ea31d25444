"""Reading stored splits: versions, their assignments, and which images are usable.

The one place that reads the ``splits`` and ``split_assignments`` tables for the rest of the
project (training, export): :func:`read_split` returns a version with its assignments, each
under the image's current label and with its file in the store; :func:`load_split`,
:func:`get_split` and :func:`split_versions` return parts of that.

Usable images: ``status == 'active'`` and no ``pending`` review item (unless the version was
built with ``include_pending``).

The test subset is different: it is fixed when a version is built, and :func:`read_test_set`
returns all of it, under the labels it was built with, whatever happened to its photos since
(sent to review, relabelled, rejected, marked duplicate). Its fingerprint
(:func:`fingerprint_of`, stored with the version) names exactly those photos and labels, so
two runs scored on the same fingerprint were scored on the same test. A person's later
decisions about test photos are reported as :attr:`FixedTestSet.changed` and reach a test set only
through a new version (``carscout split --reshuffle``), which has its own fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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
    test_fingerprint: str | None = None
    test_count: int | None = None


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
        test_fingerprint=row.test_fingerprint,
        test_count=row.test_count,
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


def fingerprint_of(members: Iterable[tuple[str, str]]) -> str:
    """Return the fingerprint of a test set given as ``(image sha256, label)`` pairs: the hex
    sha256 over the sorted lines ``"<sha256>\\t<label>\\n"`` (order of ``members`` does not
    matter; the same photo under another label gives another fingerprint)."""
    digest = hashlib.sha256()
    for sha256, label in sorted(members):
        digest.update(f"{sha256}\t{label}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class FixedTestMember:
    """One photo of a fixed test set, under the label it was built with (``label``).

    ``label_now``, ``status_now`` and ``pending`` say what happened to it since: a reviewer's
    relabel, a rejection or duplicate mark, a review item still waiting. None of them changes
    the test set.
    """

    image_id: int
    sha256: str
    label: str
    path: Path
    label_now: str
    status_now: str
    pending: bool


@dataclass(frozen=True)
class FixedTestSet:
    """The fixed test subset of one split version (see :func:`read_test_set`)."""

    split_id: int
    name: str
    version: int
    fingerprint: str
    members: list[FixedTestMember]

    @property
    def count(self) -> int:
        """Return the number of test photos."""
        return len(self.members)

    def changed(self) -> dict[str, int]:
        """Return how many test photos a person or a curate run touched since the build:
        ``{"relabelled": n, "not_active": n, "pending": n}`` (a photo may count twice)."""
        return {
            "relabelled": sum(1 for m in self.members if m.label_now != m.label),
            "not_active": sum(1 for m in self.members if m.status_now != "active"),
            "pending": sum(1 for m in self.members if m.pending),
        }


def read_test_set(workspace: Workspace, split_id: int) -> FixedTestSet:
    """Return the fixed test subset of the split version with id ``split_id``.

    Every test assignment is in it, under its assigned label, whatever the photo's review
    state or status now. Raises :class:`CarscoutError` when the version does not exist, or when
    its assignments no longer match the fingerprint stored with it (rows were removed by hand).
    """
    with workspace.catalog.reading() as conn:
        split = conn.execute(sa.select(t.splits).where(t.splits.c.id == split_id)).first()
        if split is None:
            raise CarscoutError(
                f"split version id {split_id} is not in the catalog; the run was trained on a "
                "split that is gone — train again on an existing split"
            )
        pending = (
            sa.select(t.review_items.c.id)
            .where(t.review_items.c.image_id == t.images.c.id, t.review_items.c.state == "pending")
            .exists()
            .label("pending")
        )
        rows = conn.execute(
            sa.select(
                t.split_assignments.c.image_id,
                t.split_assignments.c.label,
                t.images.c.sha256,
                t.images.c.store_path,
                t.images.c.label.label("label_now"),
                t.images.c.status,
                pending,
            )
            .join(t.images, t.images.c.id == t.split_assignments.c.image_id)
            .where(
                t.split_assignments.c.split_id == split_id,
                t.split_assignments.c.subset == "test",
            )
            .order_by(t.split_assignments.c.label, t.split_assignments.c.image_id)
        ).all()
    members = [
        FixedTestMember(
            image_id=int(row.image_id),
            sha256=row.sha256,
            label=row.label,
            path=workspace.store.path(row.store_path),
            label_now=row.label_now,
            status_now=row.status,
            pending=bool(row.pending),
        )
        for row in rows
    ]
    fingerprint = fingerprint_of((m.sha256, m.label) for m in members)
    if split.test_fingerprint is not None and fingerprint != split.test_fingerprint:
        raise CarscoutError(
            f"the test set of split {split.name!r} version {split.version} no longer matches "
            f"the fingerprint it was built with ({split.test_fingerprint[:12]}, "
            f"{split.test_count} photos; now {len(members)}); its assignments were changed "
            "outside carscout — build a new version with `carscout split --reshuffle`"
        )
    return FixedTestSet(int(split.id), split.name, int(split.version), fingerprint, members)
