"""Single keys from the terminal for the one-key review (``carscout review``)."""

from __future__ import annotations

import os
import select
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

KeyReader = Callable[[], str]
"""Returns the next key as a one-character string, or ``""`` when input has ended."""

QUIT_KEYS = {"q", "Q", "\x03", "\x04", ""}


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
