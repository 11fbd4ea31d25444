"""The split policy on its own: what a request creates, grows or is refused, by the catalog."""

from __future__ import annotations

import pytest

from curation.splits.build import build_split
from curation.splits.policy import SplitRequest, decide_split
from pipeline.errors import ConfigError
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg


def _photos(workspace: Workspace, per_label: int = 10) -> None:
    for index in range(2 * per_label):
        label = ("swift", "wagonr")[index % 2]
        intake_image(workspace.catalog, workspace.store, small_jpeg(index), Provenance(label))


def _decide(workspace: Workspace, request: SplitRequest):  # type: ignore[no-untyped-def]
    with workspace.catalog.reading() as conn:
        return decide_split(conn, request)


def test_a_first_request_creates_version_1_with_the_defaults(workspace: Workspace) -> None:
    decision = _decide(workspace, SplitRequest())
    assert (decision.action, decision.version, decision.seed) == ("create", 1, 0)
    assert (decision.sizes, decision.fractions) == (None, (0.6, 0.2, 0.2))
    assert decision.latest is None and decision.note is None
    # Sizes given as a list are a tuple in the request, and in the decision.
    given = SplitRequest(sizes=[6, 2, 2], seed=4)  # type: ignore[arg-type]
    assert given.sizes == (6, 2, 2)
    assert (_decide(workspace, given).sizes, _decide(workspace, given).seed) == ((6, 2, 2), 4)


def test_a_stored_split_grows_as_built_or_refuses_another_setting(workspace: Workspace) -> None:
    _photos(workspace)
    build_split(workspace, fractions=(0.5, 0.25, 0.25), seed=3, phash_threshold=-1)

    grow = _decide(workspace, SplitRequest())
    assert (grow.action, grow.version, grow.seed) == ("grow", 1, 3)
    assert (grow.fractions, grow.phash_threshold) == ((0.5, 0.25, 0.25), -1)

    refused = _decide(workspace, SplitRequest(sizes=(6, 2, 2), seed=3))
    assert refused.action == "refuse"
    assert [(c.option, c.stored, c.given) for c in refused.conflicts] == [
        ("--sizes", None, (6, 2, 2))
    ]
    assert "built with --sizes None, not (6, 2, 2)" in refused.reason
    assert "--reshuffle" in refused.reason
    with pytest.raises(ConfigError, match="--sizes"):
        build_split(workspace, sizes=(6, 2, 2))

    # collect-and-retrain: sizes, fractions and seed only size a new split ...
    as_built = SplitRequest(sizes=(6, 2, 2), seed=9, grow_as_built=True)
    assert _decide(workspace, as_built).action == "grow"
    # ... but photos waiting for review are still a setting of the stored split.
    pending = SplitRequest(include_pending=True, grow_as_built=True)
    assert [c.option for c in _decide(workspace, pending).conflicts] == ["--include-pending"]


def test_reshuffle_creates_the_next_version_with_the_stored_settings(workspace: Workspace) -> None:
    _photos(workspace)
    build_split(workspace, fractions=(0.5, 0.25, 0.25), seed=3, phash_threshold=-1)
    again = _decide(workspace, SplitRequest(reshuffle=True))
    assert (again.action, again.version, again.seed) == ("create", 2, 3)
    assert (again.fractions, again.phash_threshold) == ((0.5, 0.25, 0.25), -1)
    reseeded = _decide(workspace, SplitRequest(reshuffle=True, seed=5, sizes=(6, 2, 2)))
    assert (reseeded.seed, reseeded.sizes, reseeded.fractions) == (5, (6, 2, 2), None)


def test_a_new_split_fitted_to_the_collected_photos_says_how(workspace: Workspace) -> None:
    _photos(workspace, per_label=10)
    fitted = _decide(workspace, SplitRequest(fit_to_collected=True))
    assert fitted.action == "create" and fitted.sizes is not None and fitted.fractions is None
    assert sum(fitted.sizes) <= 20 and min(fitted.sizes) > 0
    assert fitted.note is not None and "scaled down to the usable photos" in fitted.note
    assert "swift 10, wagonr 10" in fitted.note
    # Sizes or fractions given win over fitting.
    chosen = _decide(workspace, SplitRequest(fractions=(0.6, 0.2, 0.2), fit_to_collected=True))
    assert (chosen.sizes, chosen.note) == (None, None)
    result = build_split(workspace, SplitRequest(fit_to_collected=True, phash_threshold=-1))
    assert result.note == fitted.note and result.total("test") > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sizes": (24, 8)}, "bad --sizes '24,8'"),
        ({"sizes": (-1, 8, 8)}, "bad --sizes '-1,8,8'"),
        ({"fractions": (0.7, 0.2, 0.2)}, "sum to 1"),
        ({"sizes": (6, 2, 2), "fractions": (0.6, 0.2, 0.2)}, "either --sizes or --fractions"),
    ],
)
def test_a_bad_request_is_one_clear_error(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SplitRequest(**options)
