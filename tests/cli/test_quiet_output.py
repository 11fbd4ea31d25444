"""No TensorFlow or absl line reaches the terminal unless ``--verbose`` is given (issue 31).

The real ``carscout`` executable trains a tiny model in a subprocess whose environment sets none
of TensorFlow's variables, so the command itself has to keep its output clean.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import typer
from PIL import Image

from cli.app import app, hoist_global_options

CARSCOUT = Path(sys.executable).with_name("carscout")
TRAIN = ["train", "--source", "folder", "--model", "baseline", "--image-size", "32",
         "--epochs", "1", "--batch-size", "8", "--weights", "none"]  # fmt: skip
# TensorFlow's and absl's C++ log format (``I0000 00:00:17… 2999 port.cc:153] …``), the absl
# start-up warning, the oneDNN and CPU-feature notes, CUDA probing, and the Python loggers.
NOISE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\]|absl|oneDNN|TF_ENABLE_ONEDNN_OPTS"
    r"|cpu_feature_guard|cuda|cuDNN|cuBLAS|WARNING:tensorflow|rebuild TensorFlow",
    re.IGNORECASE,
)


def _tree(root: Path) -> Path:
    """Write ``root/{train,validation,test}/{red,blue}/*.jpg``: 6/2/2 plain 24×24 photos."""
    for subset, count in (("train", 6), ("validation", 2), ("test", 2)):
        for label, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
            folder = root / subset / label
            folder.mkdir(parents=True)
            for index in range(count):
                shade = tuple(min(255, c + 8 * index) for c in colour)
                Image.new("RGB", (24, 24), shade).save(folder / f"{index}.jpg")
    return root


def _env() -> dict[str, str]:
    """This environment without anything that would quiet TensorFlow on the command's behalf."""
    drop = ("TF_CPP_MIN_LOG_LEVEL", "CARSCOUT_VERBOSE", "CARSCOUT_HOME", "PREFECT_API_URL")
    return {k: v for k, v in os.environ.items() if k not in drop} | {"COLUMNS": "200"}


def _run(args: list[str], cwd: Path) -> tuple[int, str]:
    done = subprocess.run(
        args, capture_output=True, text=True, cwd=cwd, env=_env(), timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def _noise(output: str) -> list[str]:
    return [line for line in output.splitlines() if NOISE.search(line)]


def test_train_prints_no_tensorflow_lines_unless_verbose(tmp_path: Path) -> None:
    data = _tree(tmp_path / "tree")
    home = ["--home", str(tmp_path / "home")]
    quiet = [str(CARSCOUT), *home, *TRAIN, "--data", str(data), "--name", "quiet"]
    # --verbose after the command: a global flag goes anywhere, like --debug.
    verbose = [str(CARSCOUT), *home, *TRAIN, "--data", str(data), "--name", "loud", "--verbose"]
    bare = [sys.executable, "-c", "import tensorflow"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        (code, output), (_, bare_output) = pool.map(lambda a: _run(a, tmp_path), (quiet, bare))
    assert code == 0, output
    assert "validation" in output  # the command's own report is still there
    assert _noise(output) == [], output
    # What a plain import prints here (the absl warning and the oneDNN note on this CPU) comes
    # through with --verbose: the quiet run hid it rather than never causing it.
    code, output = _run(verbose, tmp_path)
    assert code == 0, output
    assert len(_noise(output)) >= len(_noise(bare_output)) > 0, bare_output


def test_verbose_moves_in_front_unless_the_command_has_its_own() -> None:
    tree = typer.main.get_command(app)
    assert hoist_global_options(["train", "--verbose"], tree) == ["--verbose", "train"]
    # ``run --verbose`` (Prefect's logs) stays run's; main() lets TensorFlow's through for it too.
    assert hoist_global_options(["run", "--quick", "--verbose"], tree) == [
        "run", "--quick", "--verbose"]  # fmt: skip
