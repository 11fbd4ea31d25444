"""``carscout import``: bring local photos into the catalog through the normal intake.

Every entry of the folder is accounted for: imported (stored, known or rejected with a
reason) or skipped with a reason. Whether a file is a photo is decided by its content where
Pillow can read it, not by its name; special files are never opened, and symbolic links that
lead out of the imported folder are not followed unless asked.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pipeline.catalog import finish_run, start_run
from pipeline.errors import ConfigError
from pipeline.intake import (
    IntakeResult,
    PreparedPhoto,
    Provenance,
    intake_files,
    prepare_file,
    printable,
    take_in,
)
from pipeline.settings import IntakeLimits
from pipeline.shards import ShardMap, check_shared, split
from pipeline.workspace import Workspace

# Files with these names are always taken in, so one that is not an image gets a failure row
# with its reason; other files are taken in only when Pillow recognizes their content.
IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".webp",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".mpo",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
}

SKIP_REASONS = {
    "hidden": "dot-file",
    "not_an_image": "Pillow cannot read it",
    "special_file": "FIFO, socket or device",
    "dangling_link": "link to nothing",
    "link_outside_folder": "see --follow-links",
    "sub_folder": "not searched",
    "not_in_a_label_folder": "next to the label folders",
}
# Files per catalog transaction (and per flush of the store folders) without a shard map.
IMPORT_BATCH = 256
# Files per shard when an import reads its files through a shard map (see import_files).
IMPORT_SHARD_SIZE = 64


@dataclass
class ImportPlan:
    """What an import will take in: ``files`` as ``(path, label)`` pairs in a stable order, the
    ``skipped`` entries counted by reason (see :data:`SKIP_REASONS`), and the folder ``root``."""

    root: Path
    files: list[tuple[Path, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass
class ImportSummary:
    """Counts of one import: ``stored`` new images, ``known`` ones seen before, ``rejected`` by
    reason code, and entries ``skipped`` (not taken in) by reason."""

    stored: int = 0
    known: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    by_label: Counter[str] = field(default_factory=Counter)
    run_id: int | None = None

    @property
    def total(self) -> int:
        """Return how many folder entries were looked at (taken in or skipped)."""
        return self.stored + self.known + sum(self.rejected.values()) + sum(self.skipped.values())


def plan_import(folder: Path, label: str | None = None, follow_links: bool = False) -> ImportPlan:
    """Return the :class:`ImportPlan` for ``folder``.

    With ``label`` every photo directly in ``folder`` gets it; without, ``folder`` must hold one
    sub-folder per label. Symbolic links that lead out of ``folder`` are skipped unless
    ``follow_links``. Raises :class:`ConfigError` when the folder does not fit either shape or
    a label folder's name is not valid UTF-8.
    """
    if not folder.is_dir():
        raise ConfigError(
            f"{printable(str(folder))} is not a folder; give a folder of photos or DIR/<label>/"
        )
    root = folder.resolve()
    plan = ImportPlan(root=root)
    if label is not None:
        _plan_files(plan, root, label, follow_links)
        if not plan.files:
            raise ConfigError(
                f"no photos directly in {printable(str(folder))}{_skipped_note(plan.skipped)};"
                " check the path"
            )
        return plan
    label_dirs: list[Path] = []
    for entry in sorted(root.iterdir()):
        reason = _skip_reason(entry, root, follow_links)
        if reason is None and not entry.is_dir():
            reason = "not_in_a_label_folder"
        if reason is not None:
            plan.skipped[reason] += 1
        else:
            label_dirs.append(entry)
    if not label_dirs:
        raise ConfigError(
            f"{printable(str(folder))} has no label sub-folders; use DIR/<label>/*.jpg or pass"
            " --label NAME"
        )
    for label_dir in label_dirs:
        name = label_dir.name
        if printable(name) != name:
            raise ConfigError(
                f"label folder {printable(str(label_dir))} is not a UTF-8 name; rename it to the"
                " label you want"
            )
        _plan_files(plan, label_dir, name, follow_links)
    return plan


def _skipped_note(skipped: Counter[str]) -> str:
    if not skipped:
        return ""
    return " (skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(skipped.items())) + ")"


def _inside(path: str, root: Path) -> bool:
    return os.path.commonpath([path, str(root)]) == str(root)


def _skip_reason(entry: Path, root: Path, follow_links: bool) -> str | None:
    """Return why ``entry`` is not taken in, or None for a regular file or folder to look at."""
    if entry.name.startswith("."):
        return "hidden"
    if entry.is_symlink():
        target = os.path.realpath(entry)
        if not os.path.exists(target):
            return "dangling_link"
        if not follow_links and not _inside(target, root):
            return "link_outside_folder"
    try:
        mode = entry.stat().st_mode
    except OSError:
        return "dangling_link"  # a link loop, or the entry vanished
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "special_file"
    return None


def _plan_files(plan: ImportPlan, folder: Path, label: str, follow_links: bool) -> None:
    for entry in sorted(folder.iterdir()):
        reason = _skip_reason(entry, plan.root, follow_links)
        if reason is None and entry.is_dir():
            reason = "sub_folder"
        if reason is None and not _looks_like_image(entry):
            reason = "not_an_image"
        if reason is None:
            plan.files.append((entry, label))
        else:
            plan.skipped[reason] += 1


def _looks_like_image(path: Path) -> bool:
    """Return True when ``path`` is named like a photo or Pillow recognizes its header."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(path):
                return True
        except UnidentifiedImageError:
            return False
        except Exception:  # noqa: BLE001 - a reader claimed it; the intake says what is wrong
            return True


def import_folder(
    workspace: Workspace,
    folder: Path,
    label: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    follow_links: bool = False,
) -> ImportSummary:
    """Import every photo under ``folder`` and return an :class:`ImportSummary`."""
    return import_files(workspace, plan_import(folder, label, follow_links), progress)


def import_files(
    workspace: Workspace,
    plan: ImportPlan,
    progress: Callable[[int, int], None] | None = None,
    map_shards: ShardMap | None = None,
) -> ImportSummary:
    """Import the files of ``plan`` and return an :class:`ImportSummary`.

    Each batch of :data:`IMPORT_BATCH` files is one durable transaction
    (:func:`pipeline.intake.intake_files`), so an interrupted import keeps the batches it
    finished and a rerun adds only the rest (known bytes are not duplicated). The run row
    ends ``ok``, or ``interrupted``/``failed`` when the import stops early; it is never left
    ``running``.

    With ``map_shards`` (:mod:`pipeline.shards`) the files are read and validated by
    :func:`prepare_files` in shards of :data:`IMPORT_SHARD_SIZE` wherever it runs them (the
    folder's path must be readable there); the store and the catalog are written here, a
    shard a transaction in plan order, with the same rows as without it.
    """
    summary = ImportSummary(skipped=Counter(plan.skipped))
    files = plan.files
    with workspace.catalog.atomic() as conn:
        summary.run_id = start_run(
            conn, "import", {"files": len(files), "folder": printable(str(plan.root))}
        )
    status = "failed"
    try:
        if map_shards is None:
            _import_in_batches(workspace, files, summary, progress)
        else:
            _import_in_shards(workspace, files, summary, progress, map_shards)
        status = "ok"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        with workspace.catalog.atomic() as conn:
            finish_run(
                conn,
                summary.run_id,
                {
                    "stored": summary.stored,
                    "known": summary.known,
                    "rejected": dict(summary.rejected),
                    "skipped": dict(summary.skipped),
                },
                status=status,
            )
    return summary


def prepare_files(
    files: Sequence[tuple[str, Provenance]], limits: IntakeLimits
) -> list[PreparedPhoto]:
    """Return each ``(path, provenance)`` file read, validated and hashed here, in order.

    The work of one shard of an import (see :func:`import_files`): it reads the files and
    writes nothing, so it can run on a worker that has no catalog; the photos come back with
    their bytes, or the reason each is rejected.
    """
    return [prepare_file(path, provenance, limits) for path, provenance in files]


def _import_in_shards(
    workspace: Workspace,
    files: Sequence[tuple[Path, str]],
    summary: ImportSummary,
    progress: Callable[[int, int], None] | None,
    map_shards: ShardMap,
) -> None:
    """Read ``files`` through ``map_shards`` (:func:`prepare_files`, :data:`IMPORT_SHARD_SIZE`
    a shard) and take each shard in here, in order, counting each result in ``summary``."""
    pairs = [(str(path), _provenance(path, file_label, summary)) for path, file_label in files]
    shards = split(pairs, IMPORT_SHARD_SIZE)
    work = partial(prepare_files, limits=workspace.settings.intake)
    done = 0
    for shard, photos in zip(shards, map_shards(work, shards), strict=True):
        if len(photos) != len(shard):
            raise RuntimeError(f"an import shard of {len(shard)} files returned {len(photos)}")
        for (path, _), photo in zip(shard, photos, strict=True):
            if photo.reason == "unreadable":
                check_shared(path)
        results = take_in(workspace.catalog, workspace.store, photos)
        for (_, provenance), result in zip(shard, results, strict=True):
            _count(summary, result, provenance.label)
            done += 1
            if progress:
                progress(done, len(files))


def _provenance(path: Path, label: str, summary: ImportSummary) -> Provenance:
    """Return the provenance an imported file is taken in with (this import's run)."""
    return Provenance(
        label=label, source_path=str(path.absolute()), run_id=summary.run_id, stage="import"
    )


def _count(summary: ImportSummary, result: IntakeResult, label: str) -> None:
    """Count one file's intake ``result`` in ``summary`` (rejections by reason)."""
    if result.outcome == "rejected":
        summary.rejected[result.reason or "unknown"] += 1
    else:
        setattr(summary, result.outcome, getattr(summary, result.outcome) + 1)
        summary.by_label[label] += 1


def _import_in_batches(
    workspace: Workspace,
    files: Sequence[tuple[Path, str]],
    summary: ImportSummary,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Take ``files`` in :data:`IMPORT_BATCH` at a time (:func:`pipeline.intake.intake_files`),
    counting each result in ``summary``."""
    for first in range(0, len(files), IMPORT_BATCH):
        batch = files[first : first + IMPORT_BATCH]
        results = intake_files(
            workspace.catalog,
            workspace.store,
            [(str(path), _provenance(path, file_label, summary)) for path, file_label in batch],
            workspace.settings.intake,
        )
        for offset, ((_, file_label), result) in enumerate(zip(batch, results, strict=True)):
            _count(summary, result, file_label)
            if progress:
                progress(first + offset + 1, len(files))
