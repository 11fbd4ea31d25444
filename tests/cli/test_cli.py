"""Every command explains itself, and user mistakes are one line with a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

from cli.app import app

CARSCOUT = [sys.executable, "-c", "from cli.app import main; main()"]


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def test_every_command_and_option_has_help_text() -> None:
    root = typer.main.get_command(app)
    missing = []
    for path, command in _walk(root):
        if not (command.help or "").strip():
            missing.append(" ".join(path) or "carscout")
        for param in command.params:
            if param.param_type_name == "option" and not (getattr(param, "help", "") or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []
    assert len(list(_walk(root))) >= 3


def test_user_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CARSCOUT, "--home", str(tmp_path), "import", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "is not a folder" in lines[0]


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CARSCOUT, "status", "--no-such-flag"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "No such option" in result.stderr
