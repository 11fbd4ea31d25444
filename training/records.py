"""The training stage's rows in the catalog: ``training_runs`` and ``run_metrics``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from pipeline import schema as t
from pipeline.workspace import Workspace


def start_training_run(
    workspace: Workspace,
    *,
    name: str,
    model: str,
    data_source: str,
    split_id: int | None,
    run_dir: str,
    config: dict[str, Any],
) -> int:
    """Insert (or, when resuming the run ``name``, reopen) a training run; return its id."""
    with workspace.catalog.atomic() as conn:
        existing = conn.execute(
            sa.select(t.training_runs.c.id).where(t.training_runs.c.name == name)
        ).scalar()
        values = {
            "model": model,
            "data_source": data_source[:500],
            "split_id": split_id,
            "run_dir": run_dir,
            "config": config,
            "status": "running",
            "finished_at": None,
        }
        if existing is not None:
            conn.execute(
                sa.update(t.training_runs).where(t.training_runs.c.id == existing).values(**values)
            )
            return int(existing)
        result = conn.execute(sa.insert(t.training_runs).values(name=name, **values))
        return int(result.inserted_primary_key[0])


def finish_training_run(workspace: Workspace, run_id: int, status: str) -> None:
    """Set a training run's final status (``finished`` or ``failed``) and end time."""
    with workspace.catalog.atomic() as conn:
        conn.execute(
            sa.update(t.training_runs)
            .where(t.training_runs.c.id == run_id)
            .values(status=status, finished_at=t.utcnow())
        )


def find_training_run(
    workspace: Workspace, *, name: str | None = None, run_dir: str | None = None
) -> int | None:
    """Return the id of a training run by name or run folder, or None."""
    column, value = (t.training_runs.c.name, name) if name else (t.training_runs.c.run_dir, run_dir)
    with workspace.catalog.reading() as conn:
        found = conn.execute(sa.select(t.training_runs.c.id).where(column == value)).scalar()
    return int(found) if found is not None else None


def run_dir_of(workspace: Workspace, name: str) -> str | None:
    """Return the run folder recorded for the training run ``name``, or None."""
    with workspace.catalog.reading() as conn:
        return conn.execute(
            sa.select(t.training_runs.c.run_dir).where(t.training_runs.c.name == name)
        ).scalar()


def record_metrics(
    workspace: Workspace, run_id: int, subset: str, values: dict[str, float]
) -> None:
    """Replace the metrics of one subset of a run with ``values`` (``name -> value``)."""
    with workspace.catalog.atomic() as conn:
        conn.execute(
            sa.delete(t.run_metrics).where(
                (t.run_metrics.c.run_id == run_id) & (t.run_metrics.c.subset == subset)
            )
        )
        if values:
            conn.execute(
                sa.insert(t.run_metrics),
                [
                    {"run_id": run_id, "subset": subset, "name": k[:64], "value": v}
                    for k, v in values.items()
                ],
            )


def looks_recorded(workspace: Workspace, run_id: int) -> int:
    """Return how many times run ``run_id``'s test set was looked at (``carscout evaluate``)."""
    with workspace.catalog.reading() as conn:
        return _test_looks(conn, run_id)


def _test_looks(conn: sa.Connection, run_id: int) -> int:
    """Return run ``run_id``'s count of test looks as ``conn`` sees it (0 for no such run)."""
    looks = conn.execute(
        sa.select(t.training_runs.c.test_looks).where(t.training_runs.c.id == run_id)
    ).scalar()
    return int(looks or 0)


def run_name(workspace: Workspace, run_id: int) -> str | None:
    """Return the name of training run ``run_id``, or None when there is no such run."""
    with workspace.catalog.reading() as conn:
        return conn.execute(
            sa.select(t.training_runs.c.name).where(t.training_runs.c.id == run_id)
        ).scalar()


def record_test(
    workspace: Workspace,
    run_id: int,
    values: dict[str, float],
    *,
    fingerprint: str,
    count: int,
) -> int:
    """Replace run ``run_id``'s test metrics with ``values``, store the fingerprint and photo
    count of the test set they were measured on, count one more look; return the looks so far.

    All in one transaction: metrics never stand next to another test set's fingerprint.
    """
    with workspace.catalog.atomic() as conn:
        conn.execute(
            sa.delete(t.run_metrics).where(
                (t.run_metrics.c.run_id == run_id) & (t.run_metrics.c.subset == "test")
            )
        )
        if values:
            conn.execute(
                sa.insert(t.run_metrics),
                [
                    {"run_id": run_id, "subset": "test", "name": k[:64], "value": v}
                    for k, v in values.items()
                ],
            )
        conn.execute(
            sa.update(t.training_runs)
            .where(t.training_runs.c.id == run_id)
            .values(
                test_fingerprint=fingerprint,
                test_count=count,
                test_looks=t.training_runs.c.test_looks + 1,
            )
        )
        # Read inside the update's transaction: the count this look made, not a later one's.
        return _test_looks(conn, run_id)


def split_id_of(workspace: Workspace, run_dir: str) -> int | None:
    """Return the split version id the run in ``run_dir`` was trained on, or None."""
    with workspace.catalog.reading() as conn:
        found = conn.execute(
            sa.select(t.training_runs.c.split_id).where(t.training_runs.c.run_dir == run_dir)
        ).scalar()
    return int(found) if found is not None else None
