"""One dedup run: hash, search, group, keep the best copy; never delete a file.

One :func:`run_dedup` call:

1. hashes the images that have no pHash or colour signature yet (:mod:`curation.dedup.hashing`);
2. searches the images hashed since the last dedup run against each other and against
   everything already in the catalog (:mod:`curation.dedup.search`, exact), so a weekly run
   costs what the new photos cost, and confirms each candidate pair by the near-duplicate
   decision (:mod:`curation.dedup.decision`, shared with check-leaks and the split units:
   the photos aligned and compared by default, the colour layout with ``verify="colour"``,
   ORB + RANSAC alone with ``verify="orb"``); its parameters are
   stored in the run's params (``"decision"``), which each duplicate group points to;
3. joins the pairs, and the groups they touch, into groups (:mod:`curation.dedup.groups`);
4. in each group keeps the best copy active (largest resolution, then larger file, then first
   seen) and marks the others ``duplicate`` with a pointer to it, through
   :func:`pipeline.catalog.change_image` (history rows). A group whose images carry different
   labels is not resolved: each active member goes to the review queue as a
   ``label conflict``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from curation.dedup.decision import (
    DEFAULT_VERIFY,
    PIXEL_DECISIONS,
    VERIFY_METHODS,
    NearDuplicateDecision,
)
from curation.dedup.groups import Group, Member, build_groups, find_pairs, load_index
from curation.dedup.hashing import DEFAULT_DRAFT_SIZE, hash_catalog
from curation.dedup.near_duplicates import (
    COLOUR_MAX_DISTANCE,
    DEFAULT_COLOUR_THRESHOLD,
    DEFAULT_PHASH_THRESHOLD,
)
from curation.review.queue import LABEL_CONFLICT, Finding, enqueue
from pipeline import schema as t
from pipeline.catalog import Catalog, change_image, finish_run, start_run
from pipeline.errors import ConfigError
from pipeline.shards import ShardMap
from pipeline.store import ImageStore

# Chosen with benchmarks/dedup.py on the demo marketplace's reposts (see
# curation/dedup/near_duplicates.py): pHash <= 8 candidates join every repost family, the
# colour check removes the unrelated look-alikes.
DEFAULT_THRESHOLD = DEFAULT_PHASH_THRESHOLD
DEFAULT_KIND = "phash"
CANDIDATE_KINDS = ("phash", "dhash")
ACTOR = "dedup"


@dataclass(frozen=True)
class DedupConfig:
    """Options of one dedup run."""

    threshold: int = DEFAULT_THRESHOLD
    hash_kind: str = DEFAULT_KIND
    colour_threshold: int | None = DEFAULT_COLOUR_THRESHOLD  # None: pHash alone
    dry_run: bool = False
    full: bool = False  # search everything again, not only images new since the last run
    workers: int | None = None
    draft_size: int | None = DEFAULT_DRAFT_SIZE
    method: str = "auto"
    verify: str = DEFAULT_VERIFY  # "align", "colour" or "orb": see curation.dedup.decision

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the fix for an impossible option."""
        if not 0 <= self.threshold <= 32:
            raise ConfigError(
                f"--threshold {self.threshold} is outside 0..32; pHash reposts sit at 0-10"
            )
        if self.hash_kind not in CANDIDATE_KINDS:
            raise ConfigError(
                f"hash kind {self.hash_kind!r}: use one of {', '.join(CANDIDATE_KINDS)}"
            )
        if self.colour_threshold is not None and not (
            0 <= self.colour_threshold <= COLOUR_MAX_DISTANCE
        ):
            raise ConfigError(
                f"--colour-threshold {self.colour_threshold} is outside 0..{COLOUR_MAX_DISTANCE}; "
                f"reposts sit below {DEFAULT_COLOUR_THRESHOLD}"
            )
        if self.verify not in VERIFY_METHODS:
            raise ConfigError(f"--verify {self.verify!r}: use one of {', '.join(VERIFY_METHODS)}")
        if self.verify in PIXEL_DECISIONS and self.hash_kind != "phash":
            raise ConfigError(
                f"--verify {self.verify} compares pHashes; drop --hash dhash or use --verify colour"
            )

    @property
    def decision(self) -> NearDuplicateDecision:
        """The near-duplicate decision these options give (pairs that cannot be checked are
        dropped: never mark a photo on weak evidence)."""
        return NearDuplicateDecision(
            verify=self.verify,
            threshold=self.threshold,
            colour_threshold=self.colour_threshold,
            unverified="drop",
        )

    @property
    def kinds(self) -> tuple[str, ...]:
        """The hash kinds a run needs in the catalog."""
        return self.decision.kinds(self.hash_kind)


@dataclass
class DedupSummary:
    """What a dedup run found and did (``groups`` largest first)."""

    run_id: int | None
    dry_run: bool
    threshold: int
    hash_kind: str
    colour_threshold: int | None
    hashed: int
    hash_failures: int
    searched_new: int
    searched_against: int
    pairs: int
    groups: list[Group] = field(default_factory=list)
    marked: int = 0
    repointed: int = 0
    conflicts: int = 0
    queued: int = 0
    decision: dict = field(default_factory=dict)  # NearDuplicateDecision.params()


def _last_search(conn: Connection, config: DedupConfig) -> datetime | None:
    """Return when the last real run with the same hash kind and threshold read the hashes."""
    rows = conn.execute(
        sa.select(t.runs.c.params, t.runs.c.summary)
        .where(t.runs.c.kind == "dedup", t.runs.c.status == "ok")
        .order_by(t.runs.c.id.desc())
        .limit(50)
    ).all()
    for params, summary in rows:
        params = params or {}
        same = (
            params.get("hash_kind") == config.hash_kind
            and params.get("threshold") == config.threshold
            and params.get("colour_threshold") == config.colour_threshold
            # Runs from before the decision was stored used the colour check.
            and params.get("decision", {"verify": "colour"}).get("verify") == config.verify
        )
        if same and (summary or {}).get("searched_until"):
            return datetime.fromisoformat(summary["searched_until"])
    return None


def _new_ids(conn: Connection, kind: str, since: datetime | None, index: dict[int, Member]) -> set:
    if since is None:
        return set(index)
    rows = conn.execute(
        sa.select(t.image_hashes.c.image_id).where(
            t.image_hashes.c.kind == kind, t.image_hashes.c.created_at > since
        )
    ).scalars()
    return {int(i) for i in rows} & set(index)


def _open_groups(conn: Connection, ids: set[int]) -> dict[int, list[int]]:
    """Return ``{group_id: member ids}`` of the open groups (resolved or conflict) of ``ids``."""
    if not ids:
        return {}
    gm, dg = t.duplicate_members, t.duplicate_groups
    group_ids = (
        sa.select(gm.c.group_id)
        .join(dg, dg.c.id == gm.c.group_id)
        .where(gm.c.image_id.in_(sorted(ids)), dg.c.state.in_(("resolved", "conflict")))
    )
    groups: dict[int, list[int]] = {}
    for gid, image_id in conn.execute(
        sa.select(gm.c.group_id, gm.c.image_id).where(gm.c.group_id.in_(group_ids))
    ):
        groups.setdefault(int(gid), []).append(int(image_id))
    return groups


def _repoint(conn: Connection, member: Member, kept_id: int) -> None:
    change_image(
        conn,
        member.image_id,
        actor=ACTOR,
        status="duplicate",
        duplicate_of=kept_id,
        reason=f"better copy {kept_id} joined the group",
    )


def _save_group(
    conn: Connection, group: Group, config: DedupConfig, run_id: int, existing: dict[int, list[int]]
) -> tuple[int, int, int]:
    """Write one group and its decisions; return (marked, repointed, queued)."""
    ids = {m.image_id for m in group.members}
    superseded = [gid for gid, members in existing.items() if ids & set(members)]
    if superseded:
        conn.execute(
            sa.update(t.duplicate_groups)
            .where(t.duplicate_groups.c.id.in_(superseded))
            .values(state="superseded")
        )
    kept = group.kept
    group.group_id = int(
        conn.execute(
            sa.insert(t.duplicate_groups).values(
                kept_image_id=kept.image_id,
                hash_kind=config.hash_kind,
                threshold=config.threshold,
                state="conflict" if group.conflict else "resolved",
                run_id=run_id,
            )
        ).inserted_primary_key[0]
    )
    conn.execute(
        sa.insert(t.duplicate_members),
        [
            {"group_id": group.group_id, "image_id": m.image_id, "distance": m.distance}
            for m in group.members
        ],
    )
    if group.conflict:
        return 0, 0, _queue_conflict(conn, group)
    marked = repointed = 0
    if kept.status != "active":
        change_image(
            conn,
            kept.image_id,
            actor=ACTOR,
            status="active",
            reason="best copy of its duplicate group",
        )
    current = dict(
        conn.execute(
            sa.select(t.images.c.id, t.images.c.duplicate_of).where(t.images.c.id.in_(ids))
        ).all()
    )
    for m in group.members[1:]:
        reason = (
            f"near-duplicate of image {kept.image_id} ({config.hash_kind} distance "
            f"{m.distance}, threshold {config.threshold})"
        )
        if m.status == "active":
            change_image(
                conn,
                m.image_id,
                actor=ACTOR,
                reason=reason,
                status="duplicate",
                duplicate_of=kept.image_id,
            )
            marked += 1
        elif current.get(m.image_id) != kept.image_id:
            _repoint(conn, m, kept.image_id)
            repointed += 1
    return marked, repointed, 0


def _queue_conflict(conn: Connection, group: Group) -> int:
    counts = Counter(m.label for m in group.members)
    top = max(counts.values())
    suggested = next(m.label for m in group.members if counts[m.label] == top)
    findings = [
        Finding(
            image_id=m.image_id,
            reason=LABEL_CONFLICT,
            suggested_label=suggested,
            score=1.0 - counts[m.label] / len(group.members),
            detail={
                "group_id": group.group_id,
                "labels": group.labels,
                "kept_image_id": group.kept.image_id,
                "members": [x.image_id for x in group.members],
                "distance": m.distance,
            },
        )
        for m in group.members
        if m.status == "active"
    ]
    return enqueue(conn, findings).added


def run_dedup(
    catalog: Catalog,
    store: ImageStore,
    config: DedupConfig | None = None,
    progress: Callable[[int], None] | None = None,
    map_shards: ShardMap | None = None,
) -> DedupSummary:
    """Hash, search, group and resolve near-duplicates; return a :class:`DedupSummary`.

    With ``dry_run`` the hashes are still computed and stored (they are a cache, not a
    decision) but no status, group or review item is written. ``map_shards`` (see
    :mod:`pipeline.shards`) hashes the files in shards wherever it runs them; the search,
    the groups and every catalog write stay in this process.
    """
    config = config or DedupConfig()
    config.validate()
    run_id = None
    if not config.dry_run:
        with catalog.atomic() as conn:
            run_id = start_run(
                conn,
                "dedup",
                {
                    "threshold": config.threshold,
                    "hash_kind": config.hash_kind,
                    "colour_threshold": config.colour_threshold,
                    "full": config.full,
                    "method": config.method,
                    "decision": config.decision.params(),
                },
            )
    # Duplicates too: one hashed before the colour signature existed must still be comparable.
    hashes = hash_catalog(
        catalog,
        store,
        config.kinds,
        workers=config.workers,
        draft_size=config.draft_size,
        run_id=run_id,
        progress=progress,
        statuses=("active", "duplicate"),
        map_shards=map_shards,
    )
    searched_until = t.utcnow()
    with catalog.reading() as conn:
        since = None if config.full else _last_search(conn, config)
        index = load_index(conn, config.hash_kind)
        new = _new_ids(conn, config.hash_kind, since, index)
    pairs = find_pairs(
        index, new, config.decision, config.method, config.workers, store, map_shards
    )
    with catalog.reading() as conn:
        existing = _open_groups(conn, {i for p in pairs for i in p[:2]})
    groups = build_groups(index, pairs, existing, anchored=config.verify == "align")
    summary = DedupSummary(
        run_id=run_id,
        dry_run=config.dry_run,
        threshold=config.threshold,
        hash_kind=config.hash_kind,
        colour_threshold=config.colour_threshold,
        hashed=hashes.hashed,
        hash_failures=hashes.failed,
        searched_new=len(new),
        searched_against=len(index) - len(new),
        pairs=len(pairs),
        groups=groups,
        conflicts=sum(g.conflict for g in groups),
        decision=config.decision.params(),
    )
    if config.dry_run:
        summary.marked = sum(
            sum(m.status == "active" for m in g.members[1:]) for g in groups if not g.conflict
        )
        return summary
    assert run_id is not None
    with catalog.atomic() as conn:
        for group in groups:
            marked, repointed, queued = _save_group(conn, group, config, run_id, existing)
            summary.marked += marked
            summary.repointed += repointed
            summary.queued += queued
        finish_run(
            conn,
            run_id,
            {
                "searched_until": searched_until.isoformat(),
                "hashed": summary.hashed,
                "hash_failures": summary.hash_failures,
                "searched_new": summary.searched_new,
                "pairs": summary.pairs,
                "groups": len(groups),
                "marked": summary.marked,
                "repointed": summary.repointed,
                "conflicts": summary.conflicts,
                "queued": summary.queued,
                "decision": summary.decision,
            },
        )
    return summary
