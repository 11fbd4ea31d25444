"""``carscout import``: bring local photos into the catalog through the normal intake."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.catalog import finish_run, start_run
from pipeline.errors import ConfigError
from pipeline.intake import Provenance, intake_file
from pipeline.workspace import Workspace

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


@dataclass
class ImportSummary:
    """Counts of one import: ``stored`` new images, ``known`` ones seen before, and
    ``rejected`` by reason code, plus files skipped because they are not images by name."""

    stored: int = 0
    known: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    by_label: Counter[str] = field(default_factory=Counter)
    run_id: int | None = None

    @property
    def total(self) -> int:
        """Return how many files were looked at."""
        return self.stored + self.known + sum(self.rejected.values())


def plan_import(folder: Path, label: str | None = None) -> list[tuple[Path, str]]:
    """Return ``(file, label)`` pairs to import, sorted for a stable order.

    With ``label`` every file directly in ``folder`` gets it; without, ``folder`` must hold one
    sub-folder per label. Raises :class:`ConfigError` when the folder does not fit either shape.
    """
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; give a folder of photos or DIR/<label>/")
    if label is not None:
        files = [(p, label) for p in _image_files(folder)]
        if not files:
            raise ConfigError(f"no image files directly in {folder}; check the path")
        return files
    label_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not label_dirs:
        raise ConfigError(
            f"{folder} has no label sub-folders; use DIR/<label>/*.jpg or pass --label NAME"
        )
    return [(p, d.name) for d in label_dirs for p in _image_files(d)]


def _image_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            yield path


def import_folder(
    workspace: Workspace,
    folder: Path,
    label: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import every photo under ``folder`` and return an :class:`ImportSummary`."""
    return import_files(workspace, plan_import(folder, label), progress)


def import_files(
    workspace: Workspace,
    plan: list[tuple[Path, str]],
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import ``(file, label)`` pairs and return an :class:`ImportSummary`.

    Each file is its own transaction, so an interrupted import keeps what it finished and a
    rerun adds only the rest (known bytes are not duplicated).
    """
    summary = ImportSummary()
    with workspace.catalog.atomic() as conn:
        summary.run_id = start_run(conn, "import", {"files": len(plan)})
    for index, (path, file_label) in enumerate(plan, start=1):
        result = intake_file(
            workspace.catalog,
            workspace.store,
            str(path),
            Provenance(
                label=file_label,
                source_path=str(path.resolve()),
                run_id=summary.run_id,
                stage="import",
            ),
            workspace.settings.intake,
        )
        if result.outcome == "rejected":
            summary.rejected[result.reason or "unknown"] += 1
        else:
            setattr(summary, result.outcome, getattr(summary, result.outcome) + 1)
            summary.by_label[file_label] += 1
        if progress:
            progress(index, len(plan))
    with workspace.catalog.atomic() as conn:
        finish_run(
            conn,
            summary.run_id,
            {"stored": summary.stored, "known": summary.known, "rejected": dict(summary.rejected)},
        )
    return summary
