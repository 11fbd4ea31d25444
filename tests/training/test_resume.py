"""A training process killed with SIGKILL resumes from its last finished epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras

from training.config import TrainConfig
from training.data_sources import from_folder_tree
from training.run_folder import read_history
from training.trainer import train

CONFIG = dict(model="baseline", image_size=32, batch_size=4, epochs=4, patience=10, weights="none")

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import keras
    from training.config import TrainConfig
    from training.data_sources import from_folder_tree
    from training.trainer import train

    class KillAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGKILL)

    tree, run_dir = Path(sys.argv[1]), Path(sys.argv[2])
    train(TrainConfig(**{config}), from_folder_tree(tree), run_dir=run_dir,
          callbacks=[KillAfterSecondEpoch()])
    """
)


class EpochRecorder(keras.callbacks.Callback):
    """Remember which epochs ran in this process."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs.append(epoch)


def test_killed_training_resumes(folder_tree: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "killed"
    script = tmp_path / "killed.py"
    script.write_text(SCRIPT.format(config=repr(CONFIG)))
    env = {**os.environ, "PYTHONPATH": str(Path.cwd()), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, str(script), str(folder_tree), str(run_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    before = read_history(run_dir)
    assert [int(row["epoch"]) for row in before] == [0, 1]
    assert (run_dir / "backup").is_dir() and not (run_dir / "model.keras").exists()

    recorder = EpochRecorder()
    result = train(
        TrainConfig(**CONFIG), from_folder_tree(folder_tree), run_dir=run_dir, callbacks=[recorder]
    )
    assert recorder.epochs == [2, 3]  # continued, not restarted
    after = read_history(run_dir)
    assert [int(row["epoch"]) for row in after] == [0, 1, 2, 3]
    assert after[:2] == before
    assert (run_dir / "model.keras").is_file() and result.history == after
