"""The ``import`` flow: ``carscout import`` as a Prefect flow, whose file reading can be spread.

Under a distributed task runner (``import_flow.with_options(task_runner=DaskTaskRunner(...))``)
the files are read and validated in shards on its workers (see :mod:`flows.sharding`: the
folder must be on a filesystem every worker mounts at the same path); the photos are written to
the store and the catalog here, in the folder's order, with the same rows as ``carscout
import``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from flows.cluster import stage_shards
from flows.reporting import markdown_table, publish
from pipeline.importer import import_files, plan_import
from pipeline.settings import Settings
from pipeline.workspace import Workspace


@flow(name="import", log_prints=True)
def import_flow(
    settings: Settings, folder: Path, label: str | None = None, follow_links: bool = False
) -> dict[str, Any]:
    """Import every photo under ``folder`` (``DIR/<label>/*`` or, with ``label``, a flat
    folder); return the counts: ``stored``, ``known``, ``rejected`` and ``skipped`` by reason,
    and the run id."""
    plan = plan_import(Path(folder), label, follow_links)
    with Workspace.open(settings) as ws, stage_shards(settings, "import") as shards:
        summary = import_files(ws, plan, map_shards=shards)
    result = {
        "run_id": summary.run_id,
        "stored": summary.stored,
        "known": summary.known,
        "rejected": dict(summary.rejected),
        "skipped": dict(summary.skipped),
    }
    publish("import-summary", "Import", markdown_table(["outcome", "count"], result.items()))
    return result
