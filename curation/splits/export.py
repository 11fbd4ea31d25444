"""Export a stored split as a folder-per-class tree that Keras reads directly.

Layout (``keras.utils.image_dataset_from_directory(out / "train")`` works on each subset)::

    out/
      manifest.csv              path,split,label,sha256,listing,image_id
      train/<label folder>/<sha256>.jpg
      validation/<label folder>/…
      test/<label folder>/…

Files are hard links into the image store where the file system allows (no extra space),
copies otherwise. A hard link shares its bytes with the store: tools that edit images in place
would change the stored file too, so export with ``link=False`` (``--copy``) before editing.
WEBP files, which Keras does not list, are re-encoded as PNG. Label names that are not safe
folder names are percent-encoded (:func:`safe_folder_name`), reversibly
(:func:`label_from_folder`); the manifest keeps the real label. The tree is built in a
temporary sibling folder and moved into place at the end, so a failed export never leaves a
half-written tree where a complete one was.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import sqlalchemy as sa
from PIL import Image

from curation.splits.plan import SUBSETS
from curation.splits.stored import DEFAULT_NAME, read_split
from pipeline import schema as t
from pipeline.errors import CarscoutError
from pipeline.workspace import Workspace

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("path", "split", "label", "sha256", "listing", "image_id")
KERAS_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}
# Leaves room for a "~hash" suffix inside the usual 255-byte file name limit.
_MAX_FOLDER_CHARS = 180


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_split` wrote.

    ``counts`` maps subset → label → files, e.g. ``{"train": {"swift": 1200, ...}, ...}``;
    ``folders`` maps each label to its folder name; ``linked`` / ``copied`` / ``converted``
    count how files got there; ``skipped_unusable`` counts assignments left out because their
    image is no longer usable.
    """

    out_dir: Path
    manifest: Path
    name: str
    version: int
    counts: dict[str, dict[str, int]]
    folders: dict[str, str]
    linked: int
    copied: int
    converted: int
    skipped_unusable: int

    @property
    def total(self) -> int:
        """Return the number of files written."""
        return sum(sum(labels.values()) for labels in self.counts.values())


def safe_folder_name(label: str) -> str:
    """Return a folder name for ``label`` that is safe on common file systems.

    Letters, digits, ``_``, ``-``, ``.`` and ``~`` stay; everything else (``/``, spaces,
    ``%``, non-ASCII) is percent-encoded as UTF-8, and a leading dot is encoded too so no label
    becomes ``.``, ``..`` or a hidden folder. ``label_from_folder`` reverses it:
    ``safe_folder_name("VW Golf/GTI") == "VW%20Golf%2FGTI"``.
    """
    encoded = quote(label, safe="")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    return encoded


def label_from_folder(folder: str) -> str:
    """Return the label a :func:`safe_folder_name` folder stands for."""
    return unquote(folder)


def _folder_names(labels: list[str]) -> dict[str, str]:
    """Return label → folder, unique even on case-insensitive file systems.

    Long or case-colliding names get a ``~<hash>`` suffix; those are not reversible by
    :func:`label_from_folder`, but the manifest still maps every file to its real label.
    """
    folders = {label: safe_folder_name(label) for label in labels}
    seen = Counter(folder.casefold() for folder in folders.values())
    for label, folder in folders.items():
        if len(folder) > _MAX_FOLDER_CHARS or seen[folder.casefold()] > 1:
            digest = hashlib.sha256(label.encode()).hexdigest()[:10]
            folders[label] = f"{folder[:_MAX_FOLDER_CHARS]}~{digest}"
    return folders


def _place(source: Path, target: Path, link: bool) -> str:
    """Put ``source`` at ``target``; return ``linked``, ``copied`` or ``converted``."""
    if source.suffix.lower() not in KERAS_EXTENSIONS:
        with Image.open(source) as image:
            image.save(target.with_suffix(".png"), "PNG")
        return "converted"
    if link:
        try:
            os.link(source, target)
            return "linked"
        except OSError:
            pass  # other device, no permission, or links unsupported: copy instead
    shutil.copyfile(source, target)
    return "copied"


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise CarscoutError(f"{out_dir} is a file; choose a folder for the export")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / MANIFEST_NAME).is_file():
            raise CarscoutError(
                f"{out_dir} is not empty and holds no earlier export; choose an empty or new folder"
            )
        if not overwrite:
            raise CarscoutError(
                f"{out_dir} already holds an export; pass --overwrite to replace it"
            )


def export_split(
    workspace: Workspace,
    out_dir: Path,
    name: str = DEFAULT_NAME,
    version: int | None = None,
    *,
    link: bool = True,
    overwrite: bool = False,
) -> ExportResult:
    """Write split ``name`` (latest version unless ``version``) to ``out_dir``; see the module.

    Only usable images are exported. ``link=False`` always copies. An existing export in
    ``out_dir`` is replaced only with ``overwrite=True``; any other non-empty folder is refused.
    Returns an :class:`ExportResult`.
    """
    out_dir = Path(out_dir).resolve()
    _check_target(out_dir, overwrite)
    stored = read_split(workspace, name, version, include_unusable=True)
    info, everything = stored.info, stored.assignments
    assignments = [a for a in everything if a.usable]
    listing_ids = {a.listing_id for a in assignments if a.listing_id is not None}
    with workspace.catalog.reading() as conn:
        urls = dict(
            conn.execute(
                sa.select(t.listings.c.id, t.listings.c.url).where(t.listings.c.id.in_(listing_ids))
            ).all()
        )
    missing = [a for a in assignments if not a.path.is_file()]
    if missing:
        raise CarscoutError(
            f"{len(missing)} assigned images are missing from the store (first: {missing[0].path});"
            " run `carscout status` to check the store"
        )
    folders = _folder_names(sorted({a.label for a in assignments}))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    how: Counter[str] = Counter()
    counts: dict[str, dict[str, int]] = {subset: {} for subset in SUBSETS}
    try:
        for subset in SUBSETS:
            (staging / subset).mkdir()
        rows = []
        for a in assignments:
            folder = staging / a.subset / folders[a.label]
            folder.mkdir(exist_ok=True)
            target = folder / f"{a.sha256}{a.path.suffix.lower()}"
            outcome = _place(a.path, target, link)
            how[outcome] += 1
            if outcome == "converted":
                target = target.with_suffix(".png")
            counts[a.subset][a.label] = counts[a.subset].get(a.label, 0) + 1
            rows.append(
                {
                    "path": target.relative_to(staging).as_posix(),
                    "split": a.subset,
                    "label": a.label,
                    "sha256": a.sha256,
                    "listing": urls.get(a.listing_id, ""),
                    "image_id": a.image_id,
                }
            )
        with open(staging / MANIFEST_NAME, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(
        out_dir=out_dir,
        manifest=out_dir / MANIFEST_NAME,
        name=name,
        version=info.version,
        counts=counts,
        folders=folders,
        linked=how["linked"],
        copied=how["copied"],
        converted=how["converted"],
        skipped_unusable=len(everything) - len(assignments),
    )


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Move the finished tree to ``out_dir``, replacing an earlier export only at the end."""
    if out_dir.is_dir() and any(out_dir.iterdir()):
        retired = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, retired)
        os.replace(staging, out_dir)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        if out_dir.is_dir():
            out_dir.rmdir()
        os.replace(staging, out_dir)


def read_manifest(out_dir: Path) -> list[dict[str, str]]:
    """Return the rows of an export's ``manifest.csv`` as dicts keyed by column name."""
    with open(Path(out_dir) / MANIFEST_NAME, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
