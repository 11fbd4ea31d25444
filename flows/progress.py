"""A progress display for long runs: which stage is running and how far it got.

Flows report through :func:`reporter`, which is silent unless a caller (``carscout run``)
installs a display with :func:`reporting`. Tasks run in this process, so one display serves all.

A stage that fails is shown with ✗ and the first line of its error, never with ✓: a stage
started again (a Prefect retry) or still open when the run ends did not finish.
:func:`retry_unless_user_error` is the stage tasks' ``retry_condition_fn``: a
:class:`~pipeline.errors.CarscoutError` (a bad option, too few photos) is not retried, since
retrying cannot fix it.
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

from pipeline.errors import CarscoutError


class StageReporter:
    """The silent reporter: every call is accepted and ignored."""

    def stage(self, name: str, total: int | None = None) -> None:
        """Start a stage called ``name`` with ``total`` steps (None: unknown)."""

    def update(self, done: int, total: int | None = None, detail: str = "") -> None:
        """Report ``done`` steps of the current stage (and a short ``detail``)."""

    def finish(self, summary: str = "") -> None:
        """End the current stage with a one-line ``summary``."""

    def fail(self, error: BaseException | str, retrying: bool = False) -> None:
        """End the current stage as failed with ``error`` (``retrying``: it starts again)."""

    def note(self, text: str) -> None:
        """Print one line of information between stages (e.g. a choice the run made)."""


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

    def fail(self, error: BaseException | str, retrying: bool = False) -> None:
        """End the current stage with ✗ and the first line of ``error`` (not a traceback);
        ``retrying`` adds that the stage starts again."""
        if self._task is None:
            return
        seconds = time.monotonic() - self._started
        self.progress.remove_task(self._task)
        self._task = None
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        if isinstance(error, KeyboardInterrupt):
            reason = "interrupted"
        if retrying:
            reason += " (retrying)"
        self.console.print(
            f"[red]✗[/] {self._name:<10} {seconds:6.1f} s  {escape(reason)}", highlight=False
        )

    def note(self, text: str) -> None:
        """Print ``text`` as one line above the running stage's bar."""
        self.console.print(f"  {escape(text)}", highlight=False)

    def stage(self, name: str, total: int | None = None) -> None:
        """Start ``name``. A stage still open did not finish (its task raised and is retried,
        or its failure was not reported): it is closed with ✗, never with ✓."""
        if self._task is not None:
            self.fail("stopped before it finished")
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


def retry_unless_user_error(task: Any, task_run: Any, state: Any) -> bool:
    """Return whether Prefect should retry a failed stage task (its ``retry_condition_fn``).

    False for a :class:`CarscoutError` (a bad spec, an option that cannot work, too few photos:
    the same call would fail the same way), True for anything else (a network or disk hiccup).
    A retried stage is shown as failed (✗) before it starts again.
    """
    error = state.result(raise_on_failure=False)
    retry = not isinstance(error, CarscoutError)
    if retry and isinstance(error, BaseException):
        reporter().fail(error, retrying=True)
    return retry


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
