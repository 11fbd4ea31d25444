"""The main job behind ``carscout run``: demo marketplace (or a real site) → trained model.

Without a site it serves the built-in demo marketplace on 127.0.0.1, then runs
:func:`flows.retrain.collect_and_retrain` with a 2400/800/800 split (``quick``: a small site, a
60/20/20 split and a short training) and returns a :class:`MainJobReport`.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.progress import reporter
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from training.config import DEFAULT_MODEL, DataSpec, TrainConfig

FULL_SPLIT_SIZES = [2400, 800, 800]
QUICK_SPLIT_FRACTIONS = [0.6, 0.2, 0.2]


@dataclass(frozen=True)
class MainJobOptions:
    """What ``carscout run`` was asked to do. ``site`` None means the demo marketplace."""

    quick: bool = False
    site: str | None = None
    labels: tuple[str, ...] = ()
    max_listings: int | None = None
    model: str | None = None
    epochs: int | None = None
    image_size: int | None = None
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

    ``options.model``, ``epochs`` and ``image_size`` override the defaults where given.
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
        weights=options.weights,
        # options.seed seeds the split; training keeps TrainConfig's seed, as `carscout train`.
        tensorboard=not quick,
        data=DataSpec(kind="catalog"),
    )


def run_main_job(settings: Settings, options: MainJobOptions) -> MainJobReport:
    """Run the main job and return where its results are.

    Raises :class:`ConfigError` when a real ``site`` is given without ``labels``.
    """
    from flows.retrain import collect_and_retrain

    if options.site is not None and not options.labels:
        raise ConfigError("--site needs --labels, e.g. --labels swift,wagonr")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A fresh Prefect home builds its database on the first call: more than Prefect's default
    # 20 s on two busy cores.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    with ExitStack() as stack:
        if options.site is None:
            from scrapers.demo_site.server import DemoSite

            config = demo_site_config(options.quick)
            reporter().stage("demo site")
            demo = stack.enter_context(DemoSite(config))
            photos = len(demo.generated.photos)
            reporter().finish(f"{photos} photos served on {demo.base_url}")
            site, base_url, labels = "demo", demo.base_url, list(config.models)
        else:
            site, base_url, labels = options.site, None, list(options.labels)
        result = collect_and_retrain(
            settings,
            site,
            labels,
            train_config(options),
            base_url=base_url,
            max_listings=options.max_listings,
            split_sizes=None if options.quick else FULL_SPLIT_SIZES,
            split_fractions=QUICK_SPLIT_FRACTIONS if options.quick else None,
            split_seed=options.seed,
        )
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
