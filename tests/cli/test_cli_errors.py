"""Every command, given the mistakes a new user makes, answers with one error line — never a
traceback (issue 18) — and global options work after the command too (issue 17).

Each case runs the real ``carscout`` executable in a subprocess; the cases run a few at a time
on a thread pool, and none of them loads TensorFlow or touches the network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from pipeline.workspace import Workspace

CARSCOUT = Path(sys.executable).with_name("carscout")


@dataclass(frozen=True)
class Case:
    """One command line and a piece of text its one error line must contain."""

    args: tuple[str, ...]
    expect: str
    usage_error: bool = False  # click's own usage box (exit 2) instead of "error: …"


@dataclass(frozen=True)
class Result:
    case: Case
    returncode: int
    output: str
    seconds: float


def _run(case: Case, cwd: Path) -> Result:
    # Without TensorFlow's variable too: a command that loads it must still print one line.
    unset = ("CARSCOUT_HOME", "CARSCOUT_CATALOG_URL", "PREFECT_API_URL", "TF_CPP_MIN_LOG_LEVEL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {"COLUMNS": "200"}
    env["CARSCOUT_CACHE"] = str(cwd / "cache")  # nothing may draw the demo site here
    started = time.monotonic()
    done = subprocess.run(
        [str(CARSCOUT), *case.args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return Result(case, done.returncode, done.stdout + done.stderr, time.monotonic() - started)


def _run_all(cases: list[Case], cwd: Path) -> list[Result]:
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(lambda case: _run(case, cwd), cases))


def _photo(path: Path, colour: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path)
    return path


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    """Paths the cases refer to: a home with a catalog, a missing one, a file, a tree…"""
    home = tmp_path / "home"
    Workspace.open(home=home).close()
    text = tmp_path / "notes.txt"
    text.write_text("not a photo\n")
    tree = tmp_path / "tree"
    for label, colour in (("red", "red"), ("blue", "blue")):
        for i in range(3):
            _photo(tree / label / f"{i}.jpg", colour)
    stanford = tmp_path / "stanford"
    (stanford / "cars_train").mkdir(parents=True)
    (stanford / "devkit").mkdir()
    fake_run = tmp_path / "fake-run"
    fake_run.mkdir()
    (fake_run / "config.json").write_text("{}")
    bad_csv = tmp_path / "decisions.csv"
    bad_csv.write_text("item_id,action,new_label\n1,relabel,sedan\nx,keep,\n")
    return {
        "home": str(home),
        "nohome": str(tmp_path / "hom"),
        "text": str(text),
        "tree": str(tree),
        "stanford": str(stanford),
        "missing": str(tmp_path / "missing"),
        "fake_run": str(fake_run),
        "bad_csv": str(bad_csv),
        "tmp": str(tmp_path),
    }


def _cases(p: dict[str, str]) -> list[Case]:
    home = ("--home", p["home"])
    return [
        # --home that cannot be a data home, or holds no catalog (and is not created)
        Case(("--home", p["text"], "status"), "is a file, not a folder"),
        Case(("--home", p["text"] + "/sub", "import", p["tree"]), "is a file, not a folder"),
        Case(
            ("--home", "/proc/carscout-test/home", "scrape", "--site", "demo", "--labels", "swift"),
            "cannot use /proc/carscout-test/home",
        ),  # fmt: skip
        Case(("status", "--home", p["nohome"]), f"no catalog at {p['nohome']}"),
        Case(("--home", p["nohome"], "dedup"), "did you mean --home " + p["home"]),
        Case(("--home", p["nohome"], "models"), "no catalog at"),
        Case(("--home", p["nohome"], "score"), "no catalog at"),
        Case(("--home", p["nohome"], "review"), "no catalog at"),
        Case(("--home", p["nohome"], "review", "sheet"), "no catalog at"),
        Case(("--home", p["nohome"], "split", "--sizes", "6,2,2"), "no catalog at"),
        Case(("--home", p["nohome"], "export", p["tmp"] + "/out"), "no catalog at"),
        Case(("--home", p["nohome"], "check-leaks", p["tree"]), "no catalog at"),
        Case(("--home", p["nohome"], "evaluate", "some-run"), "no catalog at"),
        # catalog, curation and review commands
        Case((*home, "import", p["missing"]), p["missing"]),
        Case((*home, "import", p["text"]), p["text"]),
        Case((*home, "split", "--sizes", "a,b,c"), "sizes"),
        Case((*home, "split", "--fractions", "0.5,0.5"), "fractions"),
        Case((*home, "split", "--sizes", "6,2,2"), "photos"),
        Case((*home, "export", p["tmp"] + "/out"), "split"),
        Case((*home, "dedup", "--threshold", "x"), "--threshold", True),
        Case((*home, "check-leaks", p["missing"]), p["missing"]),
        Case((*home, "score", "--budget", "2"), "budget"),
        Case((*home, "score", "--features", "bogus"), "bogus"),
        Case((*home, "review", "--display", "bogus"), "unknown --display"),
        Case((*home, "review", "apply", p["missing"]), p["missing"]),
        Case((*home, "review", "apply", p["bad_csv"]), "nothing applied"),
        Case((*home, "review", "sheet", "--per-sheet", "0"), "per_sheet"),
        Case((*home, "status", "--bogus"), "No such option", True),
        Case(("bogus-command",), "No such command", True),
        # training: everything is checked before TensorFlow loads
        Case((*home, "train"), "carscout split"),
        Case(
            (*home, "train", "--source", "folder", "--data", p["tree"], "--model", "resnet50"),
            "unknown model 'resnet50'",
        ),  # fmt: skip
        Case((*home, "train", "--source", "folder", "--data", p["missing"]), "is not a folder"),
        Case(
            (*home, "train", "--source", "folder", "--data", p["tree"], "--epochs", "0"), "epochs"
        ),  # fmt: skip
        Case((*home, "train", "--source", "stanford", "--data", p["stanford"]), "cars_meta.mat"),
        Case((*home, "train", "--source", "bogus"), "--source 'bogus'"),
        Case((*home, "experiment", "data-size", "--fractions", "0,2"), "fraction"),
        Case((*home, "evaluate", "no-such-run"), "no run 'no-such-run'"),
        Case((*home, "evaluate", p["fake_run"]), "model.keras"),
        Case((*home, "predict", p["text"], "--run", "no-such-run"), "no run 'no-such-run'"),
        Case((*home, "predict", p["text"], "--run", "x", "--box", "1,2"), "--box '1,2'"),
        # the whole pipeline: options are checked before the first stage
        Case((*home, "run", "--quick", "--model", "resnet50"), "unknown model 'resnet50'"),
        Case((*home, "run", "--site", p["missing"] + ".toml", "--labels", "a"), "site spec"),
        Case((*home, "run", "--labels", "swift"), "--labels goes with --site"),
        Case((*home, "run", "--quick", "--weights", p["missing"]), "no such file"),
        Case((*home, "run", "--epochs", "0"), "--epochs", True),
        # scraping and the demo site (no server is started)
        Case((*home, "scrape", "--site", p["missing"] + ".toml", "--labels", "a"), "site spec"),
        Case((*home, "demo-site", "--port", "99999"), "--port", True),
        # schedules (another engineer's commands; included so that a traceback shows here)
        Case(
            (
                *home,
                "schedule",
                "scrape",
                "--site",
                p["missing"] + ".toml",
                "--labels",
                "a",
                "--cron",
                "0 3 * * *",
            ),
            "",
        ),  # fmt: skip
        Case((*home, "schedule", "retrain", "--cron", "not a cron"), ""),
        Case((*home, "schedule", "pause", "no-such-schedule"), ""),
    ]


def test_no_command_shows_a_traceback_for_typical_mistakes(places: dict[str, str]) -> None:
    cases = _cases(places)
    results = _run_all(cases, Path(places["tmp"]))
    problems = []
    for r in results:
        where = f"carscout {' '.join(r.case.args)} → rc {r.returncode}:\n{r.output}"
        lines = r.output.splitlines()
        if "Traceback" in r.output:
            problems.append(f"traceback: {where}")
        elif r.returncode == 0:
            problems.append(f"exit 0: {where}")
        elif "unexpected" in r.output:
            problems.append(f"not anticipated (safety net): {where}")
        elif r.case.usage_error:
            if r.returncode != 2 or r.case.expect not in r.output:
                problems.append(f"usage error expected: {where}")
        elif sum(1 for line in lines if line.startswith("error: ")) != 1:
            problems.append(f"not one 'error:' line: {where}")
        elif r.case.expect not in next(line for line in lines if line.startswith("error: ")):
            problems.append(f"{r.case.expect!r} not in the error line: {where}")
    timings = sorted((round(r.seconds, 1), " ".join(r.case.args[2:4])) for r in results)
    print("slowest:", timings[-8:])
    assert not problems, "\n\n".join(problems)
    # Nothing was created where a wrong --home pointed.
    assert not Path(places["nohome"]).exists()
    # Refused before TensorFlow loaded or a stage started: seconds, not a scrape.
    slow = [r for r in results if r.case.args[2:3] in (("run",), ("train",))]
    assert all(r.seconds < 30 for r in slow), [(r.case.args, r.seconds) for r in slow]
    quick_run = next(r for r in results if r.case.args[2:5] == ("run", "--quick", "--model"))
    assert "✓" not in quick_run.output and "demo site" not in quick_run.output


def test_debug_shows_the_traceback_and_global_options_go_anywhere(
    places: dict[str, str],
) -> None:
    cases = [
        Case(("--debug", "--home", places["text"], "status"), ""),
        Case(("status", "--home", places["text"], "--debug"), ""),
        Case(("status", "--home", places["home"]), ""),
        Case(("status", f"--home={places['home']}"), ""),
    ]
    first, second, after, equals = _run_all(cases, Path(places["tmp"]))
    for debugged in (first, second):
        assert "Traceback" in debugged.output and "is a file, not a folder" in debugged.output
    for ok in (after, equals):
        assert ok.returncode == 0, ok.output
        assert "No such option" not in ok.output


def test_hoisting_global_options() -> None:
    from cli.app import hoist_global_options

    assert hoist_global_options(["scrape", "--home", "x", "--site", "demo"]) == [
        "--home", "x", "scrape", "--site", "demo"]  # fmt: skip
    assert hoist_global_options(["--home", "a", "status", "--debug"]) == [
        "--home", "a", "--debug", "status"]  # fmt: skip
    assert hoist_global_options(["review", "apply", "--home=h", "f.csv"]) == [
        "--home=h", "review", "apply", "f.csv"]  # fmt: skip
    # After "--" nothing moves; a trailing --home with no value stays for click to report.
    assert hoist_global_options(["import", "--", "--home", "x"]) == ["import", "--", "--home", "x"]
    assert hoist_global_options(["status", "--home"]) == ["status", "--home"]


def test_an_option_value_that_reads_like_a_global_option_stays_put() -> None:
    import typer

    from cli.app import app, hoist_global_options

    tree = typer.main.get_command(app)
    # "--home" here is the label given to --label, not the data home.
    args = ["import", "photos", "--label", "--home", "--home", "h"]
    assert hoist_global_options(args, tree) == [
        "--home", "h", "import", "photos", "--label", "--home"]  # fmt: skip
    # Flags of the subcommand take no value: the --home after one still moves.
    args = ["review", "apply", "--home", "h", "f.csv"]
    assert hoist_global_options(args, tree) == ["--home", "h", "review", "apply", "f.csv"]


def test_model_names_match_the_registry() -> None:
    from cli.commands.training_cmds import MODEL_NAMES
    from training.models import MODELS

    assert tuple(MODELS) == MODEL_NAMES


def test_help_shows_no_bool_or_list_metavars_and_names_arguments_alike(tmp_path: Path) -> None:
    commands = [("--help",), ("predict", "--help"), ("import", "--help"), ("split", "--help")]
    results = _run_all([Case(args, "") for args in commands], tmp_path)
    texts = {r.case.args[0]: r.output for r in results}
    assert all(r.returncode == 0 for r in results), [r.output for r in results]
    assert not any("<bool>" in text for text in texts.values())
    assert "<list[Path]>" not in texts["predict"] and "IMAGES..." in texts["predict"]
    assert "carscout predict [OPTIONS] IMAGES..." in texts["predict"]
    assert "carscout import [OPTIONS] FOLDER" in texts["import"]
    assert "{folder}" not in texts["import"]
    assert "--reshuffle" in texts["split"]  # flags are still listed, only the metavar went
    assert "--debug" in texts["--help"]


def test_a_failed_stage_shows_a_cross_not_a_tick() -> None:
    import io

    from rich.console import Console

    from flows.progress import RichStageReporter

    out = io.StringIO()
    with pytest.raises(ValueError), RichStageReporter(Console(file=out, width=100)) as display:
        display.stage("train")
        raise ValueError("unknown model 'resnet50'\nsecond line")
    text = out.getvalue()
    assert "✗ train" in text and "unknown model 'resnet50'" in text
    assert "✓" not in text and "second line" not in text


DEAD_SITE = """
name = "dead"
render = "static"
base_url = "http://127.0.0.1:9"

[start]
url = "{base_url}/search?model={model}&page={page}"

[search]
listing_links = "a.listing"

[listing]
title = "h1"

[photos]
selector = "img"
"""


def test_a_run_whose_stage_fails_ends_with_one_line_and_no_prefect_traceback(
    tmp_path: Path,
) -> None:
    """A site that answers nothing: the stages run, one fails, and the run says so cleanly."""
    spec = tmp_path / "dead.toml"
    spec.write_text(DEAD_SITE)
    result = _run(
        Case(
            (
                "--home",
                str(tmp_path / "home"),
                "run",
                "--quick",
                "--site",
                str(spec),
                "--labels",
                "swift,wagonr",
            ),
            "",
        ),  # fmt: skip
        tmp_path,
    )
    assert result.returncode == 1, result.output
    assert "Traceback" not in result.output and "prefect" not in result.output.lower()
    assert "✗" in result.output
    assert sum(1 for line in result.output.splitlines() if line.startswith("error: ")) == 1
