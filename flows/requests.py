"""The collect-and-retrain job's options in one object: :class:`RetrainRequest`.

It holds the requests of the jobs it chains — a :class:`scrapers.request.ScrapeRequest`, a
:class:`curation.splits.policy.SplitRequest` and a :class:`training.config.TrainConfig` — and
the curate stage's two options, and travels whole from ``carscout run`` and ``carscout
schedule retrain`` through :func:`flows.retrain.collect_and_retrain` to a scheduled
deployment's parameters (:meth:`RetrainRequest.to_parameters`; Prefect rebuilds it from them).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from curation.splits.policy import SplitRequest
from pipeline.errors import ConfigError
from scrapers.request import ScrapeRequest
from training.config import TrainConfig


def _grown_as_built() -> SplitRequest:
    return SplitRequest(grow_as_built=True)


@dataclass(frozen=True)
class RetrainRequest:
    """New photos in, a challenger trained, promoted only if better: what to do at each stage.

    ``scrape`` says what to collect; ``split`` which split to grow (``grow_as_built`` by
    default: its sizes, fractions and seed only size a new split); ``train`` how to train the
    challenger (its data becomes the catalog split ``split.name``); ``review_budget`` is the
    share of photos queued for review (0–1) and ``features`` the label-scoring feature source
    (see :func:`flows.curate.curate_flow`).
    """

    scrape: ScrapeRequest
    train: TrainConfig
    split: SplitRequest = field(default_factory=_grown_as_built)
    review_budget: float = 0.12
    features: str = "auto"

    def __post_init__(self) -> None:
        if not 0 <= self.review_budget <= 1:
            raise ConfigError(
                f"--review-budget {self.review_budget} must be between 0 and 1, e.g. 0.12"
            )

    def to_parameters(self) -> dict[str, object]:
        """Return the request as JSON-ready data (a deployment's parameter, a run record)."""
        data: dict[str, object] = json.loads(json.dumps(asdict(self)))
        return data
