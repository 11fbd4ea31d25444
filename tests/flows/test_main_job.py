"""`carscout run --quick` end to end, as a newcomer would run it: a real subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline import schema as t
from pipeline.workspace import Workspace

CARSCOUT = [sys.executable, "-c", "from cli.app import main; main()"]


def test_run_quick_goes_from_demo_site_to_an_evaluated_model(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "CARSCOUT_CACHE": str(tmp_path / "cache"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [*CARSCOUT, "--home", str(home), "run", "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in ("demo site", "scrape", "dedup", "score", "split", "train", "evaluate"):
        assert re.search(rf"✓ {stage}\s", result.stdout), f"no progress line for {stage}"
    model_line = next(line for line in result.stdout.splitlines() if "model.keras" in line)
    model_file = Path(re.search(r"(/\S+model\.keras)", model_line).group(1))  # type: ignore[union-attr]
    assert model_file.is_file() and model_file.is_relative_to(home)
    assert "waiting for review" in result.stdout
    assert "auto chose the " in result.stdout  # the scoring source chosen on these photos, why

    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        listings = conn.execute(sa.select(sa.func.count()).select_from(t.listings)).scalar_one()
        subsets = set(conn.execute(sa.select(t.split_assignments.c.subset)).scalars())
        roles = list(conn.execute(sa.select(t.training_runs.c.role)).scalars())
        test_metrics = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.run_metrics)
            .where(t.run_metrics.c.subset == "test")
        ).scalar_one()
    assert listings == 72
    assert subsets == {"train", "validation", "test"}
    assert roles == ["champion"]
    assert test_metrics > 0


def test_a_new_split_keeps_2400_800_800_on_the_demo_site_and_fits_a_real_one() -> None:
    from curation.splits.plan import fit_sizes, plan_targets
    from flows.main_job import MainJobOptions, split_request
    from pipeline.errors import CarscoutError

    def choice(options: MainJobOptions) -> tuple[object, object, bool]:
        request = split_request(options)
        assert request.grow_as_built, "run grows the catalog's split as it was built"
        return request.sizes, request.fractions, request.fit_to_collected

    assert choice(MainJobOptions()) == ((2400, 800, 800), None, False)
    assert choice(MainJobOptions(quick=True)) == (None, (0.6, 0.2, 0.2), False)
    site = MainJobOptions(site="my.toml", labels=("sedan", "suv"))
    assert choice(site) == (None, None, True)
    chosen = MainJobOptions(site="my.toml", labels=("sedan", "suv"), sizes=(60, 20, 20))
    assert choice(chosen) == ((60, 20, 20), None, False)

    # The catalog: 1,139 usable sedans were too few for 2400/800/800.
    available = {"sedan": 1139, "suv": 1300}
    sizes = fit_sizes(available)
    assert sizes == (1366, 456, 456)
    targets = plan_targets(available, sizes=sizes)  # feasible: no error
    assert sum(targets[s]["sedan"] for s in targets) <= 1139
    assert fit_sizes({"sedan": 5000, "suv": 9000}) == (2400, 800, 800)
    with pytest.raises(CarscoutError, match="every label needs at least 4.*--include-pending"):
        fit_sizes({"sedan": 3, "suv": 50})
