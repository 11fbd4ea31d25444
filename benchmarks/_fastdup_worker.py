"""Runs inside ``.venv-fastdup`` (fastdup's own interpreter), started by ``fastdup_peer.py``.

Usage: ``python _fastdup_worker.py LIST_FILE WORK_DIR THREADS K THRESHOLD CC_THRESHOLD``.
Reads the photo paths (one a line) from LIST_FILE, runs fastdup once on them and writes into
WORK_DIR/result: ``embeddings.npy`` (rows in the list's order, NaN where fastdup could not
read a photo), ``pairs.npy`` (i, j, similarity in the list's indices, from fastdup's
similarity file), ``components.npy`` (component id per photo, -1 for a singleton) and
``meta.json`` (seconds of fastdup's own work, version, files it could not read).
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("SENTRY_OPT_OUT", "1")

import fastdup  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def main() -> None:
    list_file, work_dir = Path(sys.argv[1]), Path(sys.argv[2])
    threads, k = int(sys.argv[3]), int(sys.argv[4])
    threshold, cc_threshold = float(sys.argv[5]), float(sys.argv[6])
    files = [line for line in list_file.read_text().splitlines() if line]
    index = {name: i for i, name in enumerate(files)}
    fd_dir = work_dir / "fastdup"
    started = time.perf_counter()
    fd = fastdup.create(work_dir=str(fd_dir), input_dir=os.path.commonpath(files))
    fd.run(
        annotations=files,
        overwrite=True,
        num_threads=threads,
        nearest_neighbors_k=k,
        threshold=threshold,
        ccthreshold=cc_threshold,
        run_sentry=False,
    )
    names, features = fastdup.load_binary_feature(str(fd_dir / "atrain_features.dat"), d=576)
    similarity = fd.similarity(data=False)
    components = pd.read_csv(fd_dir / "connected_components.csv")
    seconds = time.perf_counter() - started

    # fastdup numbers photos in its feature file's order, which may differ from ours.
    fd_to_ours = np.array([index[str(name)] for name in names], dtype=np.int64)
    embeddings = np.full((len(files), features.shape[1]), np.nan, dtype=np.float32)
    embeddings[fd_to_ours] = features
    pairs = np.zeros((0, 3), dtype=np.float64)
    if similarity is not None and len(similarity):
        pairs = np.column_stack(
            [
                fd_to_ours[similarity["from"].to_numpy(dtype=np.int64)],
                fd_to_ours[similarity["to"].to_numpy(dtype=np.int64)],
                similarity["distance"].to_numpy(dtype=np.float64),
            ]
        )
    component_of = np.full(len(files), -1, dtype=np.int64)
    # fastdup's own file: one row per photo, count 0 for a photo in no component.
    grouped = components[components["count"] > 0]
    ids = grouped["__id"].to_numpy(dtype=np.int64)
    component_of[fd_to_ours[ids]] = grouped["component_id"].to_numpy(dtype=np.int64)
    out = work_dir / "result"
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "embeddings.npy", embeddings)
    np.save(out / "pairs.npy", pairs)
    np.save(out / "components.npy", component_of)
    unread = sorted(set(files) - {str(name) for name in names})
    meta = {"seconds": seconds, "version": fastdup.__version__, "unread": unread}
    (out / "meta.json").write_text(json.dumps(meta))


if __name__ == "__main__":
    main()
