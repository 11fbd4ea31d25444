"""The main job behind ``carscout run``: demo marketplace (or a real site) → trained model.

Without a site it serves the built-in demo marketplace on 127.0.0.1, then runs
:func:`flows.retrain.collect_and_retrain` with a 2400/800/800 split (``quick``: a small site, a
60/20/20 split and a short training) and returns a :class:`MainJobReport`. On a real site with
no split option the split is sized to fit what was collected: 2400/800/800 scaled down to the
usable photos per label (:func:`curation.splits.plan.fit_sizes`).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from curation.splits.plan import FULL_SIZES
from curation.splits.policy import SplitRequest, decide_split
from flows.progress import reporter
from flows.requests import RetrainRequest
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.workspace import Workspace
from training.config import DEFAULT_MODEL, DataSpec, TrainConfig

QUICK_SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
SPLIT_NAME = "default"  # the split collect_and_retrain creates and grows


@dataclass(frozen=True)
class MainJobOptions:
    """What ``carscout run`` was asked to do: the collect-and-retrain request, built once by the
    command line, and the main job's own two options.

    ``retrain`` carries the scrape, split and training requests whole. ``demo`` serves the
    built-in demo marketplace and scrapes it: the scrape request's site, labels and base URL are
    then the served site's, and only its bounds (``max_listings`` …) apply. ``retrain.split``
    holds the split options as given: sizes and fractions left None get the main job's default
    for a new split (:func:`split_request`). ``quick`` is a small demo site, a 60/20/20 split and
    a short training (:func:`train_config` with ``quick``).
    """

    retrain: RetrainRequest
    quick: bool = False
    demo: bool = True


@dataclass(frozen=True)
class MainJobReport:
    """Where the results are, and the numbers worth printing."""

    catalog: str
    run_dir: Path
    model_file: Path
    plots: list[Path]
    test_accuracy: float
    promoted: bool
    champion: str | None
    pending_review: int
    details: dict[str, Any]


def demo_site_config(quick: bool) -> Any:
    """Return the demo marketplace's :class:`SiteConfig`: the default one, or a small one."""
    from scrapers.demo_site.config import SiteConfig

    if not quick:
        return SiteConfig()
    return SiteConfig(
        listings_per_model=36,
        photos_per_listing=(3, 5),
        image_size=((320, 240), (480, 360)),
        page_size=12,
    )


def train_config(quick: bool = False, **given: Any) -> TrainConfig:
    """Return the training configuration the main job uses (CPU-friendly sizes), with the
    ``given`` :class:`TrainConfig` fields that are not None (``model``, ``epochs`` …) in place
    of its defaults; ``quick`` trains for fewer epochs, without TensorBoard logs.

    Raises :class:`ConfigError` for a value TrainConfig refuses.
    """
    defaults = TrainConfig(
        # Chosen on real photos (benchmarks/train.py --data ../shared/realcars-dev) within the
        # main job's time on 2 cores: 64 px, 12 epochs and the augmented CNN without batch
        # norm; patience 5 because real photos' validation loss is noisy from epoch to epoch.
        model=DEFAULT_MODEL,
        image_size=64,
        epochs=8 if quick else 12,
        batch_size=32,
        patience=5,
        weights="none",
        # The split has its own seed; training keeps TrainConfig's, as `carscout train`.
        tensorboard=not quick,
        data=DataSpec(kind="catalog"),
    )
    return defaults.with_changes(**{name: v for name, v in given.items() if v is not None})


def split_request(options: MainJobOptions) -> SplitRequest:
    """Return the split request the main job runs: the catalog's split grows as it was built; a
    new one gets the options' sizes or fractions, else 2400/800/800 on the demo site (60/20/20
    with ``quick``), else sizes fitted to what was collected."""
    given = options.retrain.split
    sizes, fractions, fit = given.sizes, given.fractions, False
    if sizes is None and fractions is None:
        if options.quick:
            fractions = QUICK_SPLIT_FRACTIONS
        elif options.demo:
            sizes = FULL_SIZES
        else:
            fit = True
    return replace(
        given,
        sizes=sizes,
        fractions=fractions,
        seed=0 if given.seed is None else given.seed,
        fit_to_collected=fit,
        grow_as_built=True,
    )


def check_existing_split(settings: Settings, options: MainJobOptions) -> None:
    """Raise :class:`ConfigError` when split options differ from the catalog's split.

    ``run`` grows an existing split (its test set stays), so ``--sizes``, ``--fractions`` or
    ``--include-pending`` that differ from the ones it was built with cannot apply
    (:func:`curation.splits.policy.decide_split` refuses them); said before the first stage
    rather than ignored.
    """
    # The options as given, held against the catalog's split: sizes and fractions too.
    given = replace(options.retrain.split, seed=None, fit_to_collected=False, grow_as_built=False)
    with Workspace.open(settings, create=True) as ws, ws.catalog.reading() as conn:
        decision = decide_split(conn, given)
    if decision.action != "refuse":
        return
    built = (
        f"--sizes {_joined(decision.sizes)}"
        if decision.sizes
        else f"--fractions {_joined(decision.fractions)}"
    )
    if decision.include_pending:
        built += " --include-pending"
    asked = [
        c.option if isinstance(c.given, bool) else f"{c.option} {_joined(c.given)}"
        for c in decision.conflicts
    ]
    raise ConfigError(
        f"the catalog's split {given.name!r} (version {decision.version}) was built with "
        f"{built}, and run grows it with the same test set; drop {' and '.join(asked)}, or "
        f"build a new version first with `carscout split --reshuffle {' '.join(asked)}`"
    )


def _joined(values: tuple[float, ...] | None) -> str:
    return ",".join(map(str, values or ()))


def run_main_job(settings: Settings, options: MainJobOptions) -> MainJobReport:
    """Run the main job and return where its results are.

    Raises :class:`ConfigError` when a real site is given without labels or split
    options disagree with the catalog's split (:func:`check_existing_split`), before any stage.
    """
    from flows.retrain import collect_and_retrain

    if not options.demo and not options.retrain.scrape.labels:
        raise ConfigError("--site needs --labels, e.g. --labels swift,wagonr")
    check_existing_split(settings, options)
    with ExitStack() as stack:
        scrape = options.retrain.scrape
        if options.demo:
            from scrapers.demo_site.server import DemoSite

            config = demo_site_config(options.quick)
            reporter().stage("demo site")
            demo = stack.enter_context(DemoSite(config))
            photos = len(demo.generated.photos)
            reporter().finish(f"{photos} photos served on {demo.base_url}")
            scrape = replace(
                scrape, site="demo", labels=tuple(config.models), base_url=demo.base_url
            )
        request = replace(options.retrain, scrape=scrape, split=split_request(options))
        result = collect_and_retrain(settings, request)
    run_dir = Path(result["train"]["run_dir"])
    return MainJobReport(
        catalog=settings.catalog_url,
        run_dir=run_dir,
        model_file=run_dir / "model.keras",
        plots=sorted(run_dir.glob("*.png")),
        test_accuracy=float(result["test_accuracy"]),
        promoted=bool(result["promoted"]),
        champion=result["champion"],
        pending_review=int(result["pending_review"]),
        details=result,
    )
