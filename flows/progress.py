"""A progress display for long runs: which stage is running and how far it got.

Flows report through :func:`reporter`, which is silent unless a caller (``carscout run``)
installs a display with :func:`reporting`. Tasks run in this process, so one display serves all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class StageReporter:
    """The silent reporter: every call is accepted and ignored."""

    def stage(self, name: str, total: int | None = None) -> None:
        """Start a stage called ``name`` with ``total`` steps (None: unknown)."""

    def update(self, done: int, total: int | None = None, detail: str = "") -> None:
        """Report ``done`` steps of the current stage (and a short ``detail``)."""

    def finish(self, summary: str = "") -> None:
        """End the current stage with a one-line ``summary``."""


class RichStageReporter(StageReporter):
    """Shows one line per stage: a bar while it runs, its summary and duration when done."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None
        self._name = ""
        self._started = 0.0

    def __enter__(self) -> RichStageReporter:
        self.progress.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, _tb: Any) -> None:
        if exc is not None:
            self.fail(exc)
        self.finish()
        self.progress.stop()

    def fail(self, error: BaseException) -> None:
        """End the current stage with ✗ and the first line of ``error`` (not a traceback)."""
        if self._task is None:
            return
        seconds = time.monotonic() - self._started
        self.progress.remove_task(self._task)
        self._task = None
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if isinstance(error, KeyboardInterrupt):
            reason = "interrupted"
        self.console.print(
            f"[red]✗[/] {self._name:<10} {seconds:6.1f} s  {escape(reason)}", highlight=False
        )

    def stage(self, name: str, total: int | None = None) -> None:
        """Close the running stage, if any, and start ``name``."""
        self.finish()
        self._name, self._started = name, time.monotonic()
        self._task = self.progress.add_task(name, total=total, detail="")

    def update(self, done: int, total: int | None = None, detail: str = "") -> None:
        """Move the current stage's bar."""
        if self._task is not None:
            self.progress.update(self._task, completed=done, total=total, detail=detail)

    def finish(self, summary: str = "") -> None:
        """Replace the bar by a line saying what the stage did and how long it took."""
        if self._task is None:
            return
        seconds = time.monotonic() - self._started
        self.progress.remove_task(self._task)
        self._task = None
        self.console.print(f"[green]✓[/] {self._name:<10} {seconds:6.1f} s  {summary}")


_current: StageReporter = StageReporter()


def reporter() -> StageReporter:
    """Return the installed reporter (silent by default)."""
    return _current


@contextmanager
def reporting(display: StageReporter) -> Iterator[StageReporter]:
    """Install ``display`` for the duration of the block."""
    global _current
    previous, _current = _current, display
    try:
        yield display
    finally:
        _current = previous
