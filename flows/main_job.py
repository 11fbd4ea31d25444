"""The main job behind ``carscout run``: demo marketplace (or a real site) → trained model.

Without a site it serves the built-in demo marketplace on 127.0.0.1, then runs
:func:`flows.retrain.collect_and_retrain` with a 2400/800/800 split (``quick``: a small site, a
60/20/20 split and a short training) and returns a :class:`MainJobReport`. On a real site with
no split option the split is sized to fit what was collected: 2400/800/800 scaled down to the
usable photos per label (:func:`curation.splits.plan.fit_sizes`).
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.splits.plan import FULL_SIZES
from curation.splits.policy import SplitRequest, decide_split
from flows.progress import reporter
from flows.requests import RetrainRequest
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.workspace import Workspace
from scrapers.request import ScrapeRequest
from training.config import DEFAULT_MODEL, DataSpec, TrainConfig

QUICK_SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
SPLIT_NAME = "default"  # the split collect_and_retrain creates and grows


@dataclass(frozen=True)
class MainJobOptions:
    """What ``carscout run`` was asked to do. ``site`` None means the demo marketplace.

    ``sizes``/``fractions`` size a new split (None for both: 2400/800/800 on the demo site,
    fitted to the photos on a real one); ``include_pending`` also splits photos waiting for
    review.
    """

    quick: bool = False
    site: str | None = None
    labels: tuple[str, ...] = ()
    base_url: str | None = None
    sizes: tuple[int, int, int] | None = None
    fractions: tuple[float, float, float] | None = None
    include_pending: bool = False
    max_listings: int | None = None
    model: str | None = None
    epochs: int | None = None
    image_size: int | None = None
    learning_rate: float | None = None
    weights: str = "none"
    seed: int = 0


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


def train_config(options: MainJobOptions) -> TrainConfig:
    """Return the training configuration the main job uses (CPU-friendly sizes).

    ``options.model``, ``epochs``, ``image_size`` and ``learning_rate`` override the defaults
    where given.
    """
    quick = options.quick
    return TrainConfig(
        # Chosen on real photos (benchmarks/train.py --data ../shared/realcars-dev) within the
        # main job's time on 2 cores: 64 px, 12 epochs and the augmented CNN without batch
        # norm; patience 5 because real photos' validation loss is noisy from epoch to epoch.
        model=options.model or DEFAULT_MODEL,
        image_size=options.image_size or 64,
        epochs=options.epochs or (8 if quick else 12),
        batch_size=32,
        patience=5,
        learning_rate=(
            TrainConfig.learning_rate if options.learning_rate is None else options.learning_rate
        ),
        weights=options.weights,
        # options.seed seeds the split; training keeps TrainConfig's seed, as `carscout train`.
        tensorboard=not quick,
        data=DataSpec(kind="catalog"),
    )


def split_request(options: MainJobOptions) -> SplitRequest:
    """Return the split request of the main job: the catalog's split grows as it was built; a
    new one gets the options' sizes or fractions, else 2400/800/800 on the demo site (60/20/20
    with ``quick``), else sizes fitted to what was collected."""
    sizes, fractions, fit = options.sizes, options.fractions, False
    if sizes is None and fractions is None:
        if options.quick:
            fractions = QUICK_SPLIT_FRACTIONS
        elif options.site is None:
            sizes = FULL_SIZES
        else:
            fit = True
    return SplitRequest(
        name=SPLIT_NAME,
        sizes=sizes,
        fractions=fractions,
        seed=options.seed,
        include_pending=True if options.include_pending else None,
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
    given = SplitRequest(
        name=SPLIT_NAME,
        sizes=options.sizes,
        fractions=options.fractions,
        include_pending=True if options.include_pending else None,
    )
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
        f"the catalog's split {SPLIT_NAME!r} (version {decision.version}) was built with "
        f"{built}, and run grows it with the same test set; drop {' and '.join(asked)}, or "
        f"build a new version first with `carscout split --reshuffle {' '.join(asked)}`"
    )


def _joined(values: tuple[float, ...] | None) -> str:
    return ",".join(map(str, values or ()))


def run_main_job(settings: Settings, options: MainJobOptions) -> MainJobReport:
    """Run the main job and return where its results are.

    Raises :class:`ConfigError` when a real ``site`` is given without ``labels`` or split
    options disagree with the catalog's split (:func:`check_existing_split`), before any stage.
    """
    from flows.retrain import collect_and_retrain

    if options.site is not None and not options.labels:
        raise ConfigError("--site needs --labels, e.g. --labels swift,wagonr")
    check_existing_split(settings, options)
    with ExitStack() as stack:
        if options.site is None:
            from scrapers.demo_site.server import DemoSite

            config = demo_site_config(options.quick)
            reporter().stage("demo site")
            demo = stack.enter_context(DemoSite(config))
            photos = len(demo.generated.photos)
            reporter().finish(f"{photos} photos served on {demo.base_url}")
            site, base_url, labels = "demo", demo.base_url, tuple(config.models)
        else:
            site, base_url, labels = options.site, options.base_url, options.labels
        scrape = ScrapeRequest(site, labels, base_url=base_url, max_listings=options.max_listings)
        request = RetrainRequest(scrape, train_config(options), split=split_request(options))
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
