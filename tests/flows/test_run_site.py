"""`carscout run --site SPEC --labels a,b` on a small server-rendered marketplace, as a new user
would run it: no option beyond the site and the labels, a split fitted to what was collected."""

from __future__ import annotations

import functools
import io
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from PIL import Image
from rich.console import Console

from curation.review.queue import queue_progress
from curation.splits.plan import FULL_SIZES
from curation.splits.stored import usable_labels
from flows.progress import RichStageReporter
from pipeline import schema as t
from pipeline.workspace import Workspace
from scrapers.demo_site import GeneratedSite, SiteConfig, generate_site
from tests.http_site import Reply, serving
from training.registry import list_models
from training.registry_policy import pair_on_test

ROOT = Path(__file__).parents[2]
CARSCOUT = [sys.executable, "-c", "from cli.app import main; main()"]

# 2 labels x 12 listings x 2-3 photos: far fewer than 2400/800/800.
SMALL_SITE = SiteConfig(
    seed=3,
    listings_per_model=12,
    photos_per_listing=(2, 3),
    wrong_share=0.05,
    repost_share=0.0,
    image_size=((160, 120), (160, 120)),
    page_size=12,
)


@dataclass
class Marketplace:
    """A running server-rendered marketplace and the site spec a user would write for it;
    ``requests`` lists the paths it was asked for."""

    base_url: str
    spec: Path
    site: GeneratedSite
    requests: list[str]


def _answer(site: GeneratedSite, requests: list[str], path: str) -> Reply:
    """Answer ``path`` from ``site`` as plain HTML: search pages list links, listing pages carry
    <img> tags; record the path in ``requests``."""
    requests.append(path)
    parts = urlsplit(path)
    if parts.path == "/search":
        query = parse_qs(parts.query)
        model, page = query.get("model", [""])[0], query.get("page", ["1"])[0]
        found = site.listings_for(model) if page == "1" else []
        cards = "".join(
            f'<a class="ad" href="/listing/{x.listing_id}">{escape(x.title)}</a>' for x in found
        )
        return Reply(200, f"<html><body>{cards}</body></html>".encode())
    if parts.path.startswith("/listing/"):
        listing = site.listing(parts.path.removeprefix("/listing/"))
        if listing is None:
            return Reply(404, b"no such listing")
        imgs = "".join(f'<img src="/photos/{pid}.jpg">' for pid in listing.photo_ids)
        html = f'<h1 class="title">{escape(listing.title)}</h1><div class="gallery">{imgs}'
        return Reply(200, f"<html><body>{html}</div></body></html>".encode())
    if parts.path.startswith("/photos/"):
        photo = site.photo_path(parts.path.removeprefix("/photos/").removesuffix(".jpg"))
        if photo.is_file():
            return Reply(200, photo.read_bytes(), "image/jpeg")
    return Reply(404, b"not found")


def write_spec(path: Path, base_url: str, labels: tuple[str, ...]) -> Path:
    """Write the site spec a user would write for the marketplace at ``base_url``."""
    start_labels = "\n".join(f'{label} = "{label}"' for label in labels)
    path.write_text(
        f"""name = "smallmart"
render = "static"
base_url = "{base_url}"

[start]
url = "{{base_url}}/search?model={{model}}&page={{page}}"

[start.labels]
{start_labels}

[search]
listing_links = "a.ad"

[listing]
title = "h1.title"

[photos]
selector = ".gallery img"
attributes = ["src"]

[politeness]
obey_robots = false
delay_seconds = 0.0

[download]
workers = 2
retries = 0
"""
    )
    return path


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Marketplace]:
    """A small marketplace of drawn cars on 127.0.0.1 and its spec file."""
    folder = tmp_path_factory.mktemp("smallmart")
    site = generate_site(SMALL_SITE, folder / "cache")
    requests: list[str] = []
    with serving(functools.partial(_answer, site, requests)) as base_url:
        spec = write_spec(folder / "smallmart.toml", base_url, SMALL_SITE.models)
        yield Marketplace(base_url, spec, site, requests)


def run_cli(tmp_path: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run ``carscout ARGS`` in a fresh process with its own caches; return the result.

    Prefect's settings are left out as in a user's shell (the test session sets some), so the
    command must set what it needs before Prefect is imported.
    """
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")},
        "CARSCOUT_CACHE": str(tmp_path / "cache"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [*CARSCOUT, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_run_on_a_small_site_fits_the_split_and_needs_no_other_option(
    tmp_path: Path, marketplace: Marketplace
) -> None:
    home = tmp_path / "home"
    result = run_cli(
        tmp_path,
        *("--home", str(home), "run", "--site", str(marketplace.spec)),
        *("--labels", "swift,wagonr"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for stage in ("scrape", "dedup", "score", "split", "train", "evaluate"):
        assert re.search(rf"✓ {stage}\s", result.stdout), f"no ✓ line for {stage}:\n{output}"
    assert "✗" not in output and "Traceback" not in output
    assert not re.search(r"\| (INFO|WARNING|ERROR) +\| ", output), "Prefect's logs leak out"
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        split = conn.execute(sa.select(t.splits)).one()
        assigned = dict(
            conn.execute(
                sa.select(t.split_assignments.c.subset, sa.func.count()).group_by(
                    t.split_assignments.c.subset
                )
            ).all()
        )
        queue = queue_progress(conn)
        usable = Counter(usable_labels(conn, include_pending=False).values())
    sizes = split.params["sizes"]
    assert sizes is not None and sum(sizes) < sum(FULL_SIZES)
    # 2400/800/800's proportions, the same per label, using all of the smallest label's photos
    per_label = [size // 2 for size in sizes]
    assert [size % 2 for size in sizes] == [0, 0, 0]
    assert sum(per_label) == min(usable.values())
    for count, share in zip(per_label, (0.6, 0.2, 0.2), strict=True):
        assert abs(count - share * sum(per_label)) < 1
    # Whole listings move together, so a subset may miss its target by part of one listing.
    assert sum(assigned.values()) == sum(sizes)
    for subset, size in zip(("train", "validation", "test"), sizes, strict=True):
        assert abs(assigned[subset] - size) <= max(SMALL_SITE.photos_per_listing)
    note = next(x for x in result.stdout.splitlines() if "split sizes" in x)
    assert ",".join(map(str, sizes)) in note and "scaled down" in note
    # The score line counts the whole queue, as `carscout status` does.
    score_line = next(x for x in result.stdout.splitlines() if "✓ score" in x)
    waiting = int(re.search(r"waiting for review: (\d+)", score_line).group(1))  # type: ignore[union-attr]
    assert waiting == queue["pending"] + queue["skipped"] > 0
    results_row = next(x for x in result.stdout.splitlines() if "│ waiting for review" in x)
    assert f"{waiting} photos" in results_row
    assert "(promoted: no champion before)" in _results_row(result.stdout, "champion")

    # A second run trains a challenger on the same test set: the results say whether it was
    # promoted, why, and McNemar's p on the identical test photos.
    again = run_cli(
        tmp_path,
        *("--home", str(home), "run", "--site", str(marketplace.spec)),
        *("--labels", "swift,wagonr"),
    )
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    with Workspace.open(home=home) as ws, ws.catalog.reading() as conn:
        runs = sorted(list_models(conn), key=lambda m: m.run_id)
    first, second = runs
    paired = pair_on_test(second, first)
    assert paired is not None, "both runs were scored on the same test photos"
    champion = _results_row(again.stdout, "champion")
    verdict = re.search(r"\((promoted|kept): (.*)\)$", champion)
    assert verdict is not None, champion
    assert verdict.group(1) == ("promoted" if second.role == "champion" else "kept")
    assert f"McNemar p={paired.p_value:.3g}" in verdict.group(2), champion
    assert re.search(r"validation \d\.\d{4} (≤|>) champion \d\.\d{4}", champion), champion
    stage = next(x for x in again.stdout.splitlines() if x.startswith("✓ promotion"))
    assert verdict.group(0)[1:-1] in " ".join(stage.split()), stage


def _results_row(stdout: str, what: str) -> str:
    """Return the text of the Results table's row ``what`` (folded lines joined)."""
    lines = stdout.splitlines()
    start = next(i for i, x in enumerate(lines) if re.match(rf"│ {what}\s+│", x))
    cells = [lines[start].split("│")[2].strip()]
    for line in lines[start + 1 :]:
        parts = line.split("│")
        if len(parts) < 3 or parts[1].strip():
            break
        cells.append(parts[2].strip())
    return " ".join(cells)


@pytest.fixture(scope="module")
def run_help(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the text of ``carscout run --help``."""
    return run_cli(tmp_path_factory.mktemp("help"), "run", "--help", timeout=120).stdout


def _catalog_with_a_split(home: Path) -> None:
    """Give ``home`` a few imported photos per label and a 60/20/20 split of them."""
    from curation.splits.build import build_split
    from pipeline.intake import Provenance, intake_image

    with Workspace.open(home=home) as ws:
        for seed in range(12):
            image = Image.new("RGB", (64, 48), (seed * 20, 255 - seed * 20, 90))
            out = io.BytesIO()
            image.save(out, "PNG")
            label = ("swift", "wagonr")[seed % 2]
            intake_image(
                ws.catalog, ws.store, out.getvalue(), Provenance(label=label, source_path=str(seed))
            )
        build_split(ws, fractions=(0.6, 0.2, 0.2))


@pytest.mark.parametrize(
    ("with_split", "options", "message"),
    [
        (False, ("--model", "resnet9000"), "unknown model 'resnet9000'"),
        (False, ("--sizes", "2400,800"), "bad --sizes '2400,800'"),
        (False, ("--sizes", "30,10,10", "--fractions", "0.6,0.2,0.2"), "--sizes or --fractions"),
        (False, ("--epochs", "0"), "--epochs"),
        (False, ("--learning-rate", "0"), "learning rates must be positive"),
        # `run` grows the catalog's split: other split options cannot apply
        (True, ("--sizes", "30,10,10"), "drop --sizes 30,10,10"),
        (True, ("--include-pending",), "drop --include-pending"),
    ],
)
def test_run_checks_its_options_before_the_first_stage(
    tmp_path: Path,
    marketplace: Marketplace,
    run_help: str,
    with_split: bool,
    options: tuple[str, ...],
    message: str,
) -> None:
    home = tmp_path / "home"
    if with_split:
        _catalog_with_a_split(home)
    before = len(marketplace.requests)
    result = run_cli(
        tmp_path,
        *("--home", str(home), "run", "--site", str(marketplace.spec)),
        *("--labels", "swift,wagonr", *options),
        timeout=120,
    )
    assert result.returncode in (1, 2), result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "carscout run ─" not in result.stdout
    assert len(marketplace.requests) == before, "the site was asked before the options were checked"
    # Every option a message tells the user to pass to `run` is one it accepts (a `carscout
    # other-command --option` hint in backquotes is another command's).
    told = re.sub(r"`[^`]*`", "", result.stderr)
    for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", told)):
        assert option in run_help, f"{option} named by run's error is not a run option"


def test_run_refuses_one_label_and_a_spec_that_needs_a_base_url(
    tmp_path: Path, marketplace: Marketplace, run_help: str
) -> None:
    home = str(tmp_path / "home")
    one = run_cli(
        tmp_path, "--home", home, "run", "--site", str(marketplace.spec), "--labels", "swift"
    )
    assert one.returncode == 1 and "two labels or more" in one.stderr
    text = marketplace.spec.read_text().replace(f'base_url = "{marketplace.base_url}"\n', "")
    no_base = write_text(tmp_path / "nobase.toml", text)
    args = ("--home", home, "run", "--site", str(no_base), "--labels", "swift,wagonr")
    missing = run_cli(tmp_path, *args)
    assert missing.returncode == 1 and "--base-url" in missing.stderr, missing.stderr
    assert "--base-url" in run_help


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``; return ``path``."""
    path.write_text(text)
    return path


@pytest.mark.usefixtures("prefect_harness")
def test_a_stage_that_cannot_work_fails_once_with_a_cross_and_one_line(tmp_path: Path) -> None:
    from curation.splits.policy import SplitRequest
    from flows.progress import reporting
    from flows.split import split_flow
    from pipeline.errors import CarscoutError
    from pipeline.settings import load_settings

    home = tmp_path / "home"
    _catalog_with_a_split(home)  # 12 photos: far too few for 2400/800/800
    out = io.StringIO()
    display = CountingReporter(Console(file=out, width=200))
    with (
        pytest.raises(CarscoutError, match="too few usable images"),
        reporting(display),
        display,
    ):
        split_flow(load_settings(home=home), SplitRequest(name="big", sizes=(2400, 800, 800)))
    assert display.started == ["split"], "a CarscoutError must not be retried"
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("✗ split"), lines
    assert "too few usable images" in lines[0] and "✓" not in out.getvalue()


class CountingReporter(RichStageReporter):
    """The stage display, counting the stages started (a retry starts its stage again)."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.started: list[str] = []

    def stage(self, name: str, total: int | None = None) -> None:
        """Record ``name`` and start it."""
        self.started.append(name)
        super().stage(name, total)


def test_a_retried_stage_is_shown_failed_before_it_starts_again() -> None:
    from prefect.states import Failed

    from flows.progress import reporting, retry_unless_user_error
    from pipeline.errors import ConfigError

    out = io.StringIO()
    display = RichStageReporter(Console(file=out, width=200))
    with reporting(display), display:
        display.stage("dedup")
        assert retry_unless_user_error(None, None, Failed(data=ConnectionResetError("reset")))
        display.stage("dedup")
        display.finish("done")
        display.stage("score")
        assert not retry_unless_user_error(None, None, Failed(data=ConfigError("bad")))
        display.stage("split")  # the score stage never finished: not a ✓
        display.finish("done")
    lines = out.getvalue().strip().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["✗", "dedup"],
        ["✓", "dedup"],
        ["✗", "score"],
        ["✓", "split"],
    ]
    assert "reset (retrying)" in lines[0]


def test_a_failed_stage_ends_the_run_with_one_cross_and_no_traceback(
    tmp_path: Path, marketplace: Marketplace
) -> None:
    # The site has no "pickup" listings: scoring cannot tell one label from nothing.
    result = run_cli(
        tmp_path,
        *("--home", str(tmp_path / "home"), "run", "--site", str(marketplace.spec)),
        *("--labels", "swift,pickup"),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    crosses = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert len(crosses) == 1 and "retrying" not in output, output
    stage = crosses[0].split()[1]
    assert not re.search(rf"✓ {stage}\s", result.stdout), f"{stage} shown as done:\n{output}"
    assert "✓ train" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr
    assert "Traceback" not in output


@pytest.mark.usefixtures("prefect_harness")
def test_curating_again_with_nothing_new_reuses_the_scores_and_says_so(
    tmp_path: Path, marketplace: Marketplace
) -> None:
    from flows.curate import curate_flow
    from flows.progress import reporting
    from flows.scrape import scrape_flow
    from pipeline.settings import load_settings
    from scrapers.request import ScrapeRequest

    settings = load_settings(home=tmp_path / "home")
    scrape_flow(settings, ScrapeRequest(marketplace.spec, ("swift", "wagonr"), max_listings=6))
    out = io.StringIO()
    display = RichStageReporter(Console(file=out, width=300))
    with reporting(display), display:
        first = curate_flow(settings, features="handmade")
        second = curate_flow(settings, features="handmade")
    assert not first["review"]["scores_reused"] and second["review"]["scores_reused"]
    score_lines = [line for line in out.getvalue().splitlines() if line.startswith("✓ score")]
    with Workspace.open(settings) as ws, ws.catalog.reading() as conn:
        run_id = conn.execute(sa.select(sa.func.max(t.label_scores.c.run_id))).scalar_one()
        queue = queue_progress(conn)
    waiting = queue["pending"] + queue["skipped"]
    assert f"scores reused, nothing new since run {run_id}" in score_lines[1]
    # The second run queued nothing new, and says how many still wait (not "0 queued").
    assert f"waiting for review: {waiting} (0 newly queued)" in score_lines[1] and waiting > 0
