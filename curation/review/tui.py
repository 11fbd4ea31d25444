"""Interactive terminal review: one photo at a time, single keys, every decision committed at once.

:func:`review_loop` is the whole session as a function of the catalog, a key source and an
output stream, so tests can drive it and the ``carscout review`` command only wires the real
terminal to it. Keys::

    k keep    r relabel (1-9 pick a label, the suggestion first; / type one)    x reject
    s skip    u undo the last decision    q quit (Ctrl-C and Ctrl-D quit too)

Photos are shown inline with the kitty graphics protocol (``TERM=xterm-kitty`` or
``KITTY_WINDOW_ID``) or iTerm2's inline images (``TERM_PROGRAM=iTerm.app``); elsewhere a
thumbnail PNG is written and its path printed (and opened with ``xdg-open`` when asked and a
display exists).
"""

from __future__ import annotations

import base64
import io
import os
import select
import shutil
import subprocess
import sys
import termios
import tty
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from PIL import Image

from curation.review.decisions import decide, undo_last
from curation.review.queue import (
    ReviewError,
    ReviewItem,
    closest_label,
    get_item,
    known_labels,
    queue_items,
)
from pipeline.catalog import Catalog
from pipeline.store import ImageStore

KeyReader = Callable[[], str]
"""Returns the next key as a one-character string, or ``""`` when input has ended."""

DISPLAY_MODES = ("auto", "kitty", "iterm", "file")
KITTY_CHUNK = 4096
QUIT_KEYS = {"q", "Q", "\x03", "\x04", ""}
HELP = "[k]eep  [r]elabel  [x] reject  [s]kip  [u]ndo  [q]uit"


# --- showing a photo --------------------------------------------------------------------


def detect_display(env: Mapping[str, str] | None = None) -> str:
    """Return ``kitty``, ``iterm`` or ``file`` for the terminal described by ``env``."""
    env = os.environ if env is None else env
    if env.get("TERM") == "xterm-kitty" or env.get("KITTY_WINDOW_ID"):
        return "kitty"
    if env.get("TERM_PROGRAM") == "iTerm.app":
        return "iterm"
    return "file"


def thumbnail_png(path: Path, max_side: int = 480) -> bytes:
    """Return a PNG of the image at ``path`` shrunk to fit ``max_side`` pixels."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((max_side, max_side))
        out = io.BytesIO()
        img.save(out, "PNG")
    return out.getvalue()


def kitty_escape(png: bytes) -> str:
    """Return the kitty graphics-protocol sequence that shows ``png`` at the cursor.

    The base64 payload goes in chunks of at most 4096 bytes; ``m=1`` says more follow.
    """
    payload = base64.standard_b64encode(png).decode("ascii")
    chunks = [payload[i : i + KITTY_CHUNK] for i in range(0, len(payload), KITTY_CHUNK)] or [""]
    parts = []
    for index, chunk in enumerate(chunks):
        more = 1 if index < len(chunks) - 1 else 0
        control = f"f=100,a=T,m={more}" if index == 0 else f"m={more}"
        parts.append(f"\x1b_G{control};{chunk}\x1b\\")
    return "".join(parts)


def iterm_escape(png: bytes, name: str = "photo.png", height_rows: int = 16) -> str:
    """Return the iTerm2 inline-image sequence (OSC 1337 File) that shows ``png``."""
    encoded_name = base64.standard_b64encode(name.encode()).decode("ascii")
    payload = base64.standard_b64encode(png).decode("ascii")
    return (
        f"\x1b]1337;File=name={encoded_name};size={len(png)};inline=1;"
        f"height={height_rows};preserveAspectRatio=1:{payload}\x07"
    )


@dataclass
class PhotoShower:
    """Shows photos on ``mode`` (kitty/iterm/file); file mode writes into ``thumbs_dir``."""

    mode: str
    thumbs_dir: Path
    open_viewer: bool = False
    _said_viewer_problem: bool = False

    def show(self, image_id: int, path: Path, out: TextIO) -> None:
        """Write the photo (or where to find it) to ``out``."""
        if not path.is_file():
            out.write(f"  (photo file missing: {path})\n")
            return
        png = thumbnail_png(path)
        if self.mode == "kitty":
            out.write(kitty_escape(png) + "\n")
        elif self.mode == "iterm":
            out.write(iterm_escape(png, f"{image_id}.png") + "\n")
        else:
            self.thumbs_dir.mkdir(parents=True, exist_ok=True)
            thumb = self.thumbs_dir / f"image-{image_id}.png"
            thumb.write_bytes(png)
            out.write(f"  photo: {thumb}\n")
            if self.open_viewer:
                problem = viewer_problem()
                if problem is None:
                    subprocess.Popen(  # noqa: S603 - a fixed program on a path we wrote
                        [VIEWER, str(thumb)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                elif not self._said_viewer_problem:
                    out.write(f"  --open: {problem}\n")
                    self._said_viewer_problem = True


VIEWER = "xdg-open"


def viewer_problem(env: Mapping[str, str] | None = None) -> str | None:
    """Return why ``--open`` cannot open a thumbnail here (naming the viewer tried), or None."""
    env = os.environ if env is None else env
    if not shutil.which(VIEWER, path=env.get("PATH")):
        return (
            f"tried {VIEWER}, which is not installed (apt install xdg-utils); open the path shown"
        )
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        return (
            f"tried {VIEWER}, but there is no display ($DISPLAY and $WAYLAND_DISPLAY are unset, "
            "e.g. over ssh); open the path shown"
        )
    return None


# --- reading keys -----------------------------------------------------------------------


@contextmanager
def terminal_keys(stream: TextIO | None = None) -> Iterator[KeyReader]:
    """Yield a key reader over ``stream`` (default stdin), in cbreak mode when it is a terminal.

    Cbreak (not raw) keeps Ctrl-C a signal, so it interrupts even a slow step; the terminal
    settings are restored on exit, whatever happens.
    """
    stream = stream or sys.stdin
    fd = stream.fileno()
    if not os.isatty(fd):
        yield lambda: _read_char(fd)
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield lambda: _read_key(fd)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_char(fd: int) -> str:
    data = os.read(fd, 1)
    return data.decode("latin-1") if data else ""


def _read_key(fd: int) -> str:
    key = _read_char(fd)
    if key == "\x1b":
        # Swallow the rest of an arrow/function-key sequence so it is one keypress.
        while select.select([fd], [], [], 0.02)[0]:
            if not os.read(fd, 1):
                break
    return key


# --- the session ------------------------------------------------------------------------


@dataclass
class ReviewSummary:
    """Counts of one session's decisions that stand (an undone one no longer counts);
    ``undo`` counts the undos, ``remaining`` the open items when the session ended."""

    keep: int = 0
    relabel: int = 0
    reject: int = 0
    skip: int = 0
    undo: int = 0
    remaining: int = 0
    finished: bool = False
    standing: dict[int, str] = field(default_factory=dict)

    def record(self, item_id: int, action: str) -> None:
        """Count ``action`` on ``item_id`` (replacing what the item had this session)."""
        self.standing[item_id] = action
        self._recount()

    def undone(self, item_id: int) -> None:
        """Forget this session's decision on ``item_id`` (made before this session: nothing)."""
        self.standing.pop(item_id, None)
        self._recount()

    def _recount(self) -> None:
        for action in ("keep", "relabel", "reject", "skip"):
            setattr(self, action, sum(1 for a in self.standing.values() if a == action))


def _label_choices(item: ReviewItem, labels: list[str]) -> list[str]:
    ordered = [item.suggested_label] if item.suggested_label else []
    ordered += [label for label in labels if label not in ordered]
    return [label for label in ordered if label != item.label][:9]


def _ask_label(item: ReviewItem, labels: list[str], keys: KeyReader, out: TextIO) -> str | None:
    choices = _label_choices(item, labels)
    listed = "  ".join(
        f"{i}) {label}{' (suggested)' if label == item.suggested_label else ''}"
        for i, label in enumerate(choices, start=1)
    )
    out.write(f"  relabel to: {listed}  /) type a label  Esc) cancel\n")
    out.flush()
    while True:
        key = keys()
        if key in QUIT_KEYS or key == "\x1b":
            return None
        if key.isdigit() and 1 <= int(key) <= len(choices):
            return choices[int(key) - 1]
        if key == "/":
            typed = _type_label(keys, out)
            if typed is None or typed in labels:
                return typed
            return _confirm_new_label(typed, labels, keys, out)


def _confirm_new_label(typed: str, labels: list[str], keys: KeyReader, out: TextIO) -> str | None:
    """Ask before a label no photo carries yet: a typo would start a one-photo class."""
    closest = closest_label(typed, labels)
    offer = f"  Enter) use {closest}" if closest else ""
    out.write(
        f"  {typed!r} is not a label in the catalog"
        + (f" (closest: {closest})" if closest else "")
        + f".{offer}  y) start the new label {typed!r}  other key) cancel\n"
    )
    out.flush()
    key = keys()
    if key in ("y", "Y"):
        return typed
    if closest and key in ("\r", "\n"):
        return closest
    return None


def _type_label(keys: KeyReader, out: TextIO) -> str | None:
    out.write("  new label (Enter to confirm, Esc to cancel): ")
    out.flush()
    typed = ""
    while True:
        key = keys()
        if key in ("", "\x1b", "\x03"):
            out.write("\n")
            return None
        if key in ("\r", "\n"):
            out.write("\n")
            return typed.strip() or None
        if key in ("\x7f", "\b"):
            typed = typed[:-1]
        elif key.isprintable():
            typed += key
        out.write(key if key.isprintable() else "")
        out.flush()


def _render(item: ReviewItem, position: int, total: int, out: TextIO) -> None:
    suggestion = item.suggested_label or ("reject" if item.reason == "not a car?" else "-")
    out.write(
        f"\n[{position}/{total}] item {item.id} · image {item.image_id} · score {item.score:.3f}"
        f"{' (skipped before)' if item.state == 'skipped' else ''}\n"
        f"  listing   : {item.title or '(no listing)'}\n"
        f"  label     : {item.label}\n"
        f"  reason    : {item.reason}\n"
        f"  suggestion: {suggestion}\n"
    )


def review_loop(
    catalog: Catalog,
    store: ImageStore,
    keys: KeyReader,
    out: TextIO,
    actor: str,
    shower: PhotoShower | None = None,
    resume_hint: str = "carscout review",
) -> ReviewSummary:
    """Walk the open queue in review order, committing each decision as its key is read.

    Returns a :class:`ReviewSummary` of the decisions that stand. Quitting (``q``, Ctrl-C, end
    of input) keeps every decision made; the next session starts again from the open items,
    as ``resume_hint`` (the command to run) says.
    """
    summary = ReviewSummary()
    with catalog.reading() as conn:
        order = [item.id for item in queue_items(conn)]
        labels = known_labels(conn)
    total = len(order)
    if not order:
        out.write("The review queue is empty: nothing to review.\n")
        summary.finished = True
        return summary
    out.write(f"{total} photos to review. {HELP}\n")
    position = 0
    try:
        while position < len(order):
            with catalog.reading() as conn:
                item = get_item(conn, order[position])
            if item is None or item.state == "decided":
                position += 1
                continue
            _render(item, position + 1, total, out)
            if shower is not None:
                shower.show(item.image_id, store.path(item.store_path), out)
            out.write(f"  {HELP} > ")
            out.flush()
            key = keys()
            out.write("\n")
            if key in QUIT_KEYS:
                break
            action, new_label = _action_for(key, item, labels, keys, out)
            if action is None:
                continue
            if action == "undo":
                undone = undo_last(catalog, actor)
                if undone is None:
                    out.write("  nothing to undo\n")
                    continue
                summary.undo += 1
                summary.undone(undone.item_id)
                out.write(f"  undid {undone.action} of item {undone.item_id}\n")
                # Back to the undone item, wherever it was: earlier in this session, later in
                # the order (an item skipped in an earlier session waits at the end), or not in
                # it at all (decided in an earlier session).
                if undone.item_id in order:
                    if order.index(undone.item_id) < position:
                        position -= 1
                    order.remove(undone.item_id)
                else:
                    total += 1
                order.insert(position, undone.item_id)
                continue
            try:
                decide(catalog, item.id, action, actor, new_label)
            except ReviewError as exc:
                out.write(f"  cannot {action}: {exc}\n")
                continue
            summary.record(item.id, action)
            detail = f" → {new_label}" if new_label else ""
            out.write(f"  saved: {action}{detail}\n")
            position += 1
        else:
            summary.finished = True
    except KeyboardInterrupt:
        out.write("\ninterrupted\n")
    with catalog.reading() as conn:
        summary.remaining = len(queue_items(conn))
    out.write(
        f"\nSaved decisions — keep {summary.keep}, relabel {summary.relabel}, reject "
        f"{summary.reject}, skip {summary.skip}"
        + (f" ({summary.undo} undone)" if summary.undo else "")
        + f"; {summary.remaining} open items left (`{resume_hint}` resumes).\n"
    )
    out.flush()
    return summary


def _action_for(
    key: str, item: ReviewItem, labels: list[str], keys: KeyReader, out: TextIO
) -> tuple[str | None, str | None]:
    lowered = key.lower()
    if lowered == "k":
        return "keep", None
    if lowered in ("x", "d"):
        return "reject", None
    if lowered == "s" or key == " ":
        return "skip", None
    if lowered == "u":
        return "undo", None
    if lowered == "r":
        label = _ask_label(item, labels, keys, out)
        if label is None:
            out.write("  relabel cancelled\n")
            return None, None
        return "relabel", label
    out.write(f"  unknown key {key!r}; {HELP}\n")
    return None, None
