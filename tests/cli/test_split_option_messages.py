"""`carscout split` and `carscout run` read --sizes/--fractions with one parser: a bad value
gets the same one error line from both (the real executable, in subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.workspace import Workspace

CARSCOUT = Path(sys.executable).with_name("carscout")

BAD_OPTIONS = [
    (("--sizes", "2400,800"), "bad --sizes '2400,800'"),
    (("--sizes", "a,b,c"), "bad --sizes 'a,b,c'"),
    (("--fractions", "0.5,0.5"), "bad --fractions '0.5,0.5'"),
    (("--fractions", "0.7,0.2,0.2"), "sum to 1"),
    (("--sizes", "6,2,2", "--fractions", "0.6,0.2,0.2"), "either --sizes or --fractions"),
]


def _stderr(home: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CARSCOUT_HOME", "PREFECT_API_URL")}
    env |= {"COLUMNS": "200", "CARSCOUT_CACHE": str(home.parent / "cache")}
    done = subprocess.run(
        [str(CARSCOUT), "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stderr


@pytest.mark.parametrize(("options", "expect"), BAD_OPTIONS)
def test_split_and_run_give_the_same_line_for_a_bad_split_option(
    tmp_path: Path, options: tuple[str, ...], expect: str
) -> None:
    home = tmp_path / "home"
    Workspace.open(home=home).close()
    with ThreadPoolExecutor(max_workers=2) as pool:
        split, run = pool.map(lambda command: _stderr(home, command, *options), ("split", "run"))
    for returncode, stderr in (split, run):
        lines = stderr.strip().splitlines()
        assert returncode == 1 and len(lines) == 1, stderr
        assert lines[0].startswith("error: ") and expect in lines[0], stderr
    assert split[1] == run[1]
