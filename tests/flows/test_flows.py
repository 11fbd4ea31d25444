"""Each flow on a tiny demo site, then collect-and-retrain twice with a fixed test set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from curation.splits.policy import SplitRequest
from flows.curate import curate_flow
from flows.requests import RetrainRequest
from flows.retrain import collect_and_retrain
from flows.scrape import scrape_flow
from flows.split import split_flow
from flows.train import evaluate_flow, train_flow
from pipeline import schema as t
from pipeline.settings import load_settings
from pipeline.workspace import Workspace
from scrapers.request import ScrapeRequest
from training.config import DataSpec, TrainConfig
from training.registry import list_models
from training.run_folder import read_test_predictions

pytestmark = pytest.mark.usefixtures("prefect_harness")

TINY_TRAINING = TrainConfig(
    model="fast_cnn",
    image_size=32,
    batch_size=8,
    epochs=1,
    patience=1,
    weights="none",
    tensorboard=False,
    data=DataSpec(kind="catalog"),
)


def _test_set_hashes(home: Path) -> list[str]:
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        latest = conn.execute(sa.select(sa.func.max(t.splits.c.id))).scalar_one()
        return sorted(
            conn.execute(
                sa.select(t.images.c.sha256)
                .join(t.split_assignments, t.split_assignments.c.image_id == t.images.c.id)
                .where(
                    t.split_assignments.c.split_id == latest,
                    t.split_assignments.c.subset == "test",
                )
            ).scalars()
        )


def _evaluate_summary() -> str:
    """Return the Markdown of the newest ``evaluate-summary`` artifact."""
    from prefect.artifacts import Artifact

    artifact = Artifact.get("evaluate-summary")
    assert artifact is not None, "the evaluate flow published no summary"
    return str(artifact.data)


def test_each_flow_runs_on_a_small_demo_site(tmp_path: Path, demo_site) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(home=tmp_path / "home")
    labels = ["swift", "wagonr"]

    scraped = scrape_flow(settings, ScrapeRequest("demo", labels, base_url=demo_site.base_url))
    assert scraped["labels"]["swift"]["photos_stored"] > 0
    assert set(scraped["labels"]) == set(labels)

    curated = curate_flow(settings, review_budget=0.12, features="handmade")
    assert curated["review"]["queued_added"] >= 2
    assert sum(curated["review"]["scored"].values()) > 0

    split = split_flow(settings, SplitRequest(fractions=(0.6, 0.2, 0.2), seed=1))
    assert split["version"] == 1
    assert all(sum(split["counts"][s].values()) > 0 for s in ("train", "validation", "test"))

    trained = train_flow(settings, TINY_TRAINING)
    run_dir = Path(trained["run_dir"])
    assert (run_dir / "model.keras").is_file()
    metrics_before = (run_dir / "metrics.json").read_text()
    assert '"test"' not in metrics_before, "training must not touch the test set"

    metrics = evaluate_flow(settings, str(run_dir))
    assert metrics["count"] == sum(split["counts"]["test"].values())
    # The figures are the test photos' own: each photo of the split's test set scored once, the
    # accuracy their share of right answers, the same in metrics.json as in what came back.
    scored = read_test_predictions(run_dir)
    assert scored is not None
    assert sorted(photo.sha256 for photo in scored) == _test_set_hashes(settings.home)
    right = sum(photo.true == photo.predicted for photo in scored)
    assert metrics["accuracy"] == pytest.approx(right / len(scored))
    assert sum(row["support"] for row in metrics["per_class"].values()) == len(scored)
    recorded = json.loads((run_dir / "metrics.json").read_text())["test"]
    assert recorded["accuracy"] == pytest.approx(metrics["accuracy"])
    # Without promote=True the decision is only shown, in the flow's published summary too.
    assert metrics["promotion"]["verdict"] == "would be promoted: no champion before"
    assert "Promotion: **would be promoted: no champion before**" in _evaluate_summary()
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        models = list_models(conn)
    assert [m.role for m in models] == ["challenger"]
    assert models[0].test_accuracy == pytest.approx(metrics["accuracy"])
    assert models[0].test_count == len(scored) and models[0].test_looks == 1


def test_collect_and_retrain_twice_keeps_the_test_set_and_promotes_only_the_better(
    tmp_path: Path,
    demo_site,  # type: ignore[no-untyped-def]
) -> None:
    settings = load_settings(home=tmp_path / "home")

    def request(max_listings: int) -> RetrainRequest:
        scrape = ScrapeRequest(
            "demo", ("swift", "wagonr"), base_url=demo_site.base_url, max_listings=max_listings
        )
        split = SplitRequest(fractions=(0.6, 0.2, 0.2), seed=0, grow_as_built=True)
        # The default CNN features are exercised by `run --quick`.
        return RetrainRequest(scrape, TINY_TRAINING, split=split, features="handmade")

    first = collect_and_retrain(settings, request(max_listings=3))
    test_before = _test_set_hashes(settings.home)
    assert first["promoted"] is True and test_before

    second = collect_and_retrain(settings, request(max_listings=5))
    assert second["scrape"]["labels"]["swift"]["photos_stored"] > 0, "more listings came in"
    assert second["split"]["newly_placed"] > 0
    assert _test_set_hashes(settings.home) == test_before

    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        models = list_models(conn)
    assert len(models) == 2
    champions = [m for m in models if m.role == "champion"]
    assert len(champions) == 1
    challenger = next(m for m in models if m.name == second["train"]["name"])
    original = next(m for m in models if m.name == first["train"]["name"])
    assert challenger.test_accuracy is not None and original.test_accuracy is not None
    # Both on the same fixed test set; the champion's was not looked at again.
    assert challenger.test_fingerprint == original.test_fingerprint is not None
    assert challenger.test_count == original.test_count and original.test_looks == 1
    # Chosen on validation (a tie is not a win), guarded by McNemar on the same test photos.
    assert second["p_value"] is not None and "McNemar p = " in second["decision"]
    challenger_wins = challenger.validation_accuracy > second["champion_validation"] and (
        "significantly worse" not in second["decision"]
    )
    assert second["promoted"] is challenger_wins
    # The evaluate flow's summary says the decision, why, and McNemar's p on the same photos.
    assert second["verdict"].startswith("promoted: " if challenger_wins else "kept: ")
    assert f"McNemar p={second['p_value']:.3g}" in second["verdict"]
    assert f"Promotion: **{second['verdict']}**" in _evaluate_summary()
    assert champions[0].name == (challenger.name if challenger_wins else original.name)
    assert second["pending_review"] >= 1
