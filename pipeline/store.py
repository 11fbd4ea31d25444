"""A content-addressed image store: ``store/ab/abcdef….jpg``, named by the sha256 of the bytes.

Writes go to a temporary file in the target folder, are flushed to disk (``fsync``) and then
renamed, and the folders that received new names are flushed too (:meth:`ImageStore.sync`), so
after a power cut a file is either whole under its name or not there, and a temporary is
cleaned up by :meth:`ImageStore.remove_stale_temporaries`. Files are never deleted by carscout's
stages; the one exception is :meth:`ImageStore.discard`, for a file just written whose catalog
row could not be.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.processes import pid_alive

TEMP_PREFIX = ".tmp-"
_TEMP_PID = re.compile(r"^\.tmp-(\d+)-")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def sha256_of(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class ImageStore:
    """Files under ``root``, addressed by sha256 and an extension."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def relative_path(self, sha256: str, extension: str) -> str:
        """Return the store path (relative to the root) of an image, e.g. ``ab/abcd….jpg``."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        if not re.fullmatch(r"[a-z0-9]{1,5}", extension):
            raise ValueError(f"bad extension {extension!r}")
        return f"{sha256[:2]}/{sha256}.{extension}"

    def path(self, relative: str) -> Path:
        """Return the absolute path of a store-relative path."""
        return self.root / relative

    def put(self, data: bytes, extension: str, digest: str | None = None) -> tuple[str, str]:
        """Store ``data`` (once), durably, and return ``(sha256, relative_path)``.

        ``digest`` is the sha256 of ``data`` when the caller has it already. Writing the same
        bytes again is a no-op that returns the same path. The file and its folder are flushed
        to disk before this returns (for many files, :meth:`write` each and :meth:`sync` once).
        """
        digest = digest or sha256_of(data)
        relative = self.relative_path(digest, extension)
        self.write(data, relative)
        self.sync([relative])
        return digest, relative

    def write(self, data: bytes, relative: str) -> bool:
        """Write ``data`` to ``relative`` unless a file of that size is there; return whether
        this call wrote it.

        The file itself is flushed to disk before it takes its name, so the name never points at
        a partial file; the name is durable only after :meth:`sync` of its folder.
        """
        target = self.path(relative)
        if target.exists() and target.stat().st_size == len(data):
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        # pid (for stale-file cleanup) plus a random part: two threads may store the same bytes.
        temp = target.parent / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
        return True

    def sync(self, relatives: Iterable[str]) -> None:
        """Flush to disk the folders holding ``relatives`` and the store root, so that their
        names (new files, new folders) survive a power cut. One ``fsync`` per folder."""
        folders = {self.path(relative).parent for relative in relatives}
        if not folders:
            return
        for folder in sorted(folders) + [self.root]:
            fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def discard(self, relative: str) -> bool:
        """Delete the store file at ``relative``; return whether there was one.

        Only for a file this process has just written and whose catalog row failed, so that no
        file is left without a row.
        """
        target = self.path(relative)
        existed = target.exists()
        target.unlink(missing_ok=True)
        return existed

    def iter_files(self) -> Iterator[str]:
        """Yield the store-relative path of every finished file."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir():
                for file in sorted(folder.iterdir()):
                    if not file.name.startswith(TEMP_PREFIX):
                        yield f"{folder.name}/{file.name}"

    def iter_temporaries(self) -> Iterator[Path]:
        """Yield every temporary file left in the store."""
        if self.root.is_dir():
            yield from self.root.glob(f"*/{TEMP_PREFIX}*")

    def remove_stale_temporaries(self) -> int:
        """Delete temporaries whose writing process is gone; return how many were removed."""
        removed = 0
        for temp in self.iter_temporaries():
            match = _TEMP_PID.match(temp.name)
            if match and pid_alive(int(match.group(1))):
                continue
            temp.unlink(missing_ok=True)
            removed += 1
        return removed
