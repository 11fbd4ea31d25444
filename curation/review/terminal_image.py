"""Photos in the terminal: kitty graphics, sixel (iTerm2 too), Unicode half-blocks, or a file.

Every picture is drawn by ``textual-image`` (a kept library with a Rich renderable per protocol),
not by escape codes written here:

* ``kitty`` — the kitty graphics protocol (``TERM=xterm-kitty`` or ``KITTY_WINDOW_ID``);
* ``sixel`` — sixel graphics (xterm ``-ti vt340``, foot, WezTerm, mlterm, Windows Terminal);
* ``iterm`` — iTerm2 (``TERM_PROGRAM=iTerm.app``), drawn as sixel, which iTerm2 shows since 3.3;
* ``halfblock`` — ``▀`` cells whose foreground is one pixel and background the pixel below:
  works in every 256-colour or truecolor terminal, tmux and VS Code's included;
* ``file`` — a thumbnail PNG written to disk and its path printed (output that is not a
  terminal), opened with ``xdg-open`` when asked and a display exists.

``auto`` picks kitty or iTerm2 from the environment, then asks the terminal whether it speaks
sixel (textual-image's probe), and falls back to half-blocks on any other terminal.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from PIL import Image
from rich.console import Console

DISPLAY_MODES = ("auto", "kitty", "sixel", "iterm", "halfblock", "file")
VIEWER = "xdg-open"
# The library warns on stderr when a terminal does not answer its cell-size query, then uses
# the VT340's 10x20 pixels; that guess is fine for a thumbnail and the warning would land on
# the review screen.
logging.getLogger("textual_image").setLevel(logging.ERROR)


def _probe_sixel() -> bool:
    """Ask the terminal (through textual-image) whether it draws sixel graphics."""
    try:
        from textual_image.renderable.sixel import query_terminal_support
    except Exception:  # noqa: BLE001 - an odd terminal must not stop the review
        return False
    try:
        return bool(query_terminal_support())
    except Exception:  # noqa: BLE001
        return False


def detect_display(
    env: Mapping[str, str] | None = None,
    *,
    tty: bool | None = None,
    sixel_probe: Callable[[], bool] | None = None,
) -> str:
    """Return the display mode for the terminal described by ``env``.

    ``kitty`` or ``iterm`` from the environment; ``file`` when output is not a terminal
    (``tty`` False) or ``TERM`` is ``dumb``; ``sixel`` when ``sixel_probe`` says the terminal
    draws it; ``halfblock`` otherwise.
    """
    env = os.environ if env is None else env
    if env.get("TERM") == "xterm-kitty" or env.get("KITTY_WINDOW_ID"):
        return "kitty"
    if env.get("TERM_PROGRAM") == "iTerm.app":
        return "iterm"
    if tty is None:
        tty = sys.stdin.isatty() and sys.stdout.isatty()
    if not tty or env.get("TERM", "dumb") in ("", "dumb"):
        return "file"
    if (sixel_probe or _probe_sixel)():
        return "sixel"
    return "halfblock"


def color_system(env: Mapping[str, str] | None = None) -> str:
    """Return ``truecolor`` when ``$COLORTERM`` says so, else ``256`` (Rich's names)."""
    env = os.environ if env is None else env
    return "truecolor" if env.get("COLORTERM", "").lower() in ("truecolor", "24bit") else "256"


def thumbnail(path: Path, max_side: int = 480) -> Image.Image:
    """Return the image at ``path`` as RGB, shrunk to fit ``max_side`` pixels."""
    with Image.open(path) as img:
        img.draft("RGB", (max_side, max_side))
        rgb = img.convert("RGB")
    rgb.thumbnail((max_side, max_side))
    return rgb


def thumbnail_png(path: Path, max_side: int = 480) -> bytes:
    """Return a PNG of the image at ``path`` shrunk to fit ``max_side`` pixels."""
    out = io.BytesIO()
    thumbnail(path, max_side).save(out, "PNG")
    return out.getvalue()


def _renderable(mode: str, image: Image.Image) -> Any:
    """Return textual-image's Rich renderable for ``mode``, fitted to the console's box."""
    if mode == "kitty":
        from textual_image.renderable.tgp import Image as Renderable
    elif mode in ("sixel", "iterm"):
        from textual_image.renderable.sixel import Image as Renderable  # type: ignore[assignment]
    else:
        from textual_image.renderable.halfcell import (  # type: ignore[assignment]
            Image as Renderable,
        )
    return Renderable(image, width="auto", height="auto")


def render_photo(
    mode: str,
    image: Image.Image,
    out: TextIO,
    columns: int,
    rows: int,
    colors: str = "256",
) -> None:
    """Draw ``image`` on ``out`` in ``mode`` within ``columns`` × ``rows`` cells.

    The aspect ratio is kept; ``colors`` is ``256`` or ``truecolor`` (half-blocks only).
    """
    console = Console(
        file=out,
        force_terminal=True,
        color_system=colors,  # type: ignore[arg-type]
        width=max(columns, 8),
        height=max(rows, 4),
        legacy_windows=False,
    )
    console.print(_renderable(mode, image), crop=False)
    out.flush()


@dataclass
class PhotoShower:
    """Shows photos in ``mode`` (see :data:`DISPLAY_MODES`); file mode writes into
    ``thumbs_dir`` and, with ``open_viewer``, opens each thumbnail in the system viewer."""

    mode: str
    thumbs_dir: Path
    open_viewer: bool = False
    max_columns: int = 80
    reserved_rows: int = 9
    _said_viewer_problem: bool = False

    def show(self, image_id: int, path: Path, out: TextIO) -> None:
        """Write the photo (or where to find it) to ``out``."""
        if not path.is_file():
            out.write(f"  (photo file missing: {path})\n")
            return
        if self.mode != "file":
            size = shutil.get_terminal_size((80, 24))
            render_photo(
                self.mode,
                thumbnail(path),
                out,
                min(self.max_columns, size.columns - 2),
                size.lines - self.reserved_rows,
                color_system(),
            )
            return
        self.thumbs_dir.mkdir(parents=True, exist_ok=True)
        thumb = self.thumbs_dir / f"image-{image_id}.png"
        thumb.write_bytes(thumbnail_png(path))
        out.write(f"  photo: {thumb}\n")
        if not self.open_viewer:
            return
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
