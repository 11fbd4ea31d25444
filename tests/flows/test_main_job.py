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
    from curation.splits.policy import SplitRequest
    from flows.main_job import MainJobOptions, split_request, train_config
    from flows.requests import RetrainRequest
    from pipeline.errors import CarscoutError
    from scrapers.request import ScrapeRequest

    def choice(
        quick: bool = False, demo: bool = True, sizes: tuple[int, int, int] | None = None
    ) -> tuple[object, object, bool]:
        scrape = ScrapeRequest("demo", ()) if demo else ScrapeRequest("my.toml", ("sedan", "suv"))
        retrain = RetrainRequest(scrape, train_config(quick), split=SplitRequest(sizes=sizes))
        request = split_request(MainJobOptions(retrain, quick=quick, demo=demo))
        assert request.grow_as_built, "run grows the catalog's split as it was built"
        return request.sizes, request.fractions, request.fit_to_collected

    assert choice() == ((2400, 800, 800), None, False)
    assert choice(quick=True) == (None, (0.6, 0.2, 0.2), False)
    assert choice(demo=False) == (None, None, True)
    assert choice(demo=False, sizes=(60, 20, 20)) == ((60, 20, 20), None, False)

    # The catalog: 1,139 usable sedans were too few for 2400/800/800.
    available = {"sedan": 1139, "suv": 1300}
    sizes = fit_sizes(available)
    assert sizes == (1366, 456, 456)
    targets = plan_targets(available, sizes=sizes)  # feasible: no error
    assert sum(targets[s]["sedan"] for s in targets) <= 1139
    assert fit_sizes({"sedan": 5000, "suv": 9000}) == (2400, 800, 800)
    with pytest.raises(CarscoutError, match="every label needs at least 4.*--include-pending"):
        fit_sizes({"sedan": 3, "suv": 50})


def test_the_main_jobs_training_takes_the_options_given_and_its_own_defaults_otherwise() -> None:
    from flows.main_job import train_config
    from pipeline.errors import ConfigError

    full, quick = train_config(), train_config(quick=True, model=None, epochs=None)
    assert (full.image_size, full.epochs, full.weights, full.tensorboard) == (64, 12, "none", True)
    assert (quick.epochs, quick.tensorboard, quick.model) == (8, False, full.model)
    given = train_config(True, model="baseline", epochs=3, learning_rate=0.01, weights="imagenet")
    assert (given.model, given.epochs, given.learning_rate, given.weights) == (
        "baseline",
        3,
        0.01,
        "imagenet",
    )
    assert given.image_size == 64 and given.tensorboard is False
    with pytest.raises(ConfigError, match="image_size 16 is too small"):
        train_config(image_size=16)
