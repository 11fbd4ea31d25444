"""The split policy, in one place: does a request create a version, grow the latest, or neither?

A :class:`SplitRequest` holds the split job's options, carried whole from ``carscout split``,
``run`` and ``schedule retrain`` through the flows. :func:`decide_split` reads the latest
version of the named split and returns a :class:`SplitDecision`:

* ``create`` — no version yet, or ``reshuffle``: a new version, with the request's settings,
  else the previous version's, else the defaults (sizes fitted to the collected photos when the
  request says ``fit_to_collected`` and gives neither sizes nor fractions);
* ``grow`` — the latest version keeps its settings and assignments and takes the new photos;
* ``refuse`` — the request gives a setting that differs from the one the version was built
  with: ``conflicts`` says which, :attr:`SplitDecision.reason` says what to do. With
  ``grow_as_built`` (collect-and-retrain) sizes, fractions and seed only size a new split and
  are not held against an existing one.

:func:`curation.splits.build.build_split` carries the decision out; nothing else reads the
latest version to decide.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.engine import Connection

from curation.splits.plan import DEFAULT_FRACTIONS, FULL_SIZES, fit_sizes
from curation.splits.stored import DEFAULT_NAME, latest_split, usable_labels
from curation.splits.units import DEFAULT_PHASH_THRESHOLD, DEFAULT_VERIFY
from pipeline.errors import ConfigError

Sizes = tuple[int, int, int]  # images per subset: train, validation, test
Fractions = tuple[float, float, float]  # share of each label per subset


def _joined(values: tuple[Any, ...]) -> str:
    return ",".join(map(str, values))


def check_sizes(values: Any) -> Sizes:
    """Return ``values`` as three whole, non-negative sizes, not all zero; ConfigError if not."""
    try:
        sizes = tuple(int(value) for value in values)
    except (TypeError, ValueError):
        sizes = ()
    if len(sizes) != 3 or min(sizes) < 0 or sum(sizes) == 0:
        raise ConfigError(
            f"bad --sizes {_joined(tuple(values))!r}: give three whole numbers "
            "train,validation,test such as 2400,800,800"
        )
    return (sizes[0], sizes[1], sizes[2])


def check_fractions(values: Any) -> Fractions:
    """Return ``values`` as three non-negative fractions summing to 1; ConfigError if not."""
    try:
        fractions = tuple(float(value) for value in values)
    except (TypeError, ValueError):
        fractions = ()
    if (
        len(fractions) != 3
        or min(fractions) < 0
        or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6)
    ):
        raise ConfigError(
            f"bad --fractions {_joined(tuple(values))!r}: give three fractions "
            "train,validation,test that sum to 1, such as 0.6,0.2,0.2"
        )
    return (fractions[0], fractions[1], fractions[2])


@dataclass(frozen=True)
class SplitRequest:
    """The options of one split job on the split ``name``.

    ``sizes`` (totals per subset) or ``fractions`` (of each label), ``seed``,
    ``include_pending`` (also photos waiting for review), ``phash_threshold`` and ``verify``
    (what ties near-duplicates together): None keeps the latest version's setting, or the
    default for a first one. ``reshuffle`` builds a new version even when one exists.
    ``fit_to_collected``: a new split given neither sizes nor fractions gets 2400/800/800
    scaled down to the usable photos. ``grow_as_built``: sizes, fractions and seed only apply to
    a new split; an existing one grows as it was built. Sizes and fractions are stored as
    tuples whatever sequence they were given as.
    """

    name: str = DEFAULT_NAME
    sizes: Sizes | None = None
    fractions: Fractions | None = None
    seed: int | None = None
    reshuffle: bool = False
    include_pending: bool | None = None
    phash_threshold: int | None = None
    verify: str | None = None
    fit_to_collected: bool = False
    grow_as_built: bool = False

    def __post_init__(self) -> None:
        if self.sizes is not None and self.fractions is not None:
            raise ConfigError("give either --sizes or --fractions, not both")
        if self.sizes is not None:
            object.__setattr__(self, "sizes", check_sizes(self.sizes))
        if self.fractions is not None:
            object.__setattr__(self, "fractions", check_fractions(self.fractions))


@dataclass(frozen=True)
class Conflict:
    """A request's setting that differs from the one the latest version was built with."""

    option: str  # as the command line names it, e.g. --sizes
    stored: Any
    given: Any


@dataclass(frozen=True)
class SplitDecision:
    """What :func:`decide_split` decided for a request on split ``name``.

    ``action`` is ``create`` (version ``version``, with the settings below), ``grow`` (the
    latest version ``version``, ``latest``, with its own settings) or ``refuse`` (see
    ``conflicts`` and :attr:`reason`). ``note`` says how the sizes were fitted to the collected
    photos, when they were.
    """

    action: Literal["create", "grow", "refuse"]
    name: str
    version: int
    seed: int
    sizes: Sizes | None = None
    fractions: Fractions | None = None
    include_pending: bool = False
    phash_threshold: int = DEFAULT_PHASH_THRESHOLD
    verify: str = DEFAULT_VERIFY
    note: str | None = None
    conflicts: tuple[Conflict, ...] = ()
    latest: Any = None  # the latest version's ``splits`` row, None for a first version

    @property
    def reason(self) -> str:
        """Return why the request is refused and how to go on ("" unless ``refuse``)."""
        if not self.conflicts:
            return ""
        first = self.conflicts[0]
        return (
            f"split {self.name!r} version {self.version} was built with {first.option} "
            f"{first.stored}, not {first.given}; drop the option to grow it, or pass --reshuffle "
            "to build a new version with the new setting"
        )


def stored_settings(latest: Any) -> dict[str, Any]:
    """Return the settings a stored version was built with, as a request names them: ``sizes``
    and ``fractions`` (tuples or None), ``seed``, ``include_pending``, ``phash_threshold`` and
    ``verify`` (None where the version does not say)."""
    params = dict(latest.params or {})
    return {
        "sizes": tuple(params["sizes"]) if params.get("sizes") is not None else None,
        "fractions": tuple(params["fractions"]) if params.get("fractions") is not None else None,
        "seed": latest.seed,
        "include_pending": params.get("include_pending"),
        "phash_threshold": params.get("phash_threshold"),
        "verify": (params.get("near_duplicates") or {}).get("verify", DEFAULT_VERIFY),
    }


def fitted_sizes(conn: Connection, include_pending: bool) -> tuple[Sizes, str]:
    """Return sizes fitted to the catalog's usable photos and a one-line note saying how.

    Raises :class:`pipeline.errors.CarscoutError` when some label is too small to split.
    """
    available = dict(Counter(usable_labels(conn, include_pending).values()))
    sizes = fit_sizes(available)
    counts = ", ".join(f"{label} {available[label]}" for label in sorted(available))
    full = _joined(FULL_SIZES)
    if sizes == FULL_SIZES:
        return sizes, f"split sizes {full} (usable photos: {counts})"
    return sizes, (
        f"split sizes {_joined(sizes)}: {full} scaled down to the usable photos "
        f"({counts}); --sizes or --fractions choose others"
    )


_OPTIONS = (
    ("sizes", "--sizes"),
    ("fractions", "--fractions"),
    ("seed", "--seed"),
    ("include_pending", "--include-pending"),
    ("phash_threshold", "--phash-threshold"),
    ("verify", "--verify"),
)
# What a grow_as_built request gives only for a new split.
_CREATION_ONLY = frozenset({"sizes", "fractions", "seed"})


def decide_split(conn: Connection, request: SplitRequest) -> SplitDecision:
    """Decide whether ``request`` creates a version of its split, grows the latest, or is
    refused (see the module docstring); return the :class:`SplitDecision`.

    Raises :class:`pipeline.errors.CarscoutError` when sizes must be fitted and some label has
    too few usable photos.
    """
    latest = latest_split(conn, request.name)
    if latest is None or request.reshuffle:
        return _create(conn, request, latest)
    stored = stored_settings(latest)
    conflicts = tuple(
        Conflict(option, stored[field], getattr(request, field))
        for field, option in _OPTIONS
        if getattr(request, field) is not None
        and getattr(request, field) != stored[field]
        and not (request.grow_as_built and field in _CREATION_ONLY)
    )
    params = dict(latest.params or {})
    return SplitDecision(
        action="refuse" if conflicts else "grow",
        name=request.name,
        version=int(latest.version),
        seed=int(latest.seed),
        sizes=stored["sizes"],
        fractions=stored["fractions"],
        include_pending=bool(params.get("include_pending", False)),
        phash_threshold=int(params.get("phash_threshold", DEFAULT_PHASH_THRESHOLD)),
        verify=stored["verify"],
        conflicts=conflicts,
        latest=latest,
    )


def _create(conn: Connection, request: SplitRequest, latest: Any) -> SplitDecision:
    previous = stored_settings(latest) if latest is not None else {}

    def setting(field: str, default: Any) -> Any:
        given = getattr(request, field)
        if given is not None:
            return given
        return previous.get(field) if previous.get(field) is not None else default

    include_pending = bool(setting("include_pending", False))
    sizes, fractions, note = request.sizes, request.fractions, None
    if sizes is None and fractions is None:
        if request.fit_to_collected:
            sizes, note = fitted_sizes(conn, include_pending)
        else:
            sizes, fractions = previous.get("sizes"), previous.get("fractions")
    if sizes is None:
        fractions = fractions or DEFAULT_FRACTIONS
    phash_threshold = setting("phash_threshold", DEFAULT_PHASH_THRESHOLD)
    verify = request.verify if request.verify is not None else previous.get("verify")
    return SplitDecision(
        action="create",
        name=request.name,
        version=int(latest.version) + 1 if latest is not None else 1,
        seed=int(setting("seed", 0)),
        sizes=sizes,
        fractions=fractions,
        include_pending=include_pending,
        phash_threshold=int(phash_threshold),
        verify=verify or DEFAULT_VERIFY,
        note=note,
        latest=latest,
    )
