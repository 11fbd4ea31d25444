"""Review decisions: the queue API, the real `carscout review` driven through a pseudo-terminal,
a killed session, contact sheets and decisions files."""

from __future__ import annotations

import csv
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from curation.review.batch import DecisionFileError, apply_decisions_file, write_sheets
from curation.review.decisions import decide, undo_last
from curation.review.queue import (
    QueueConfig,
    ReviewError,
    build_queue,
    queue_items,
    queue_progress,
    select_top,
)
from pipeline import schema as t
from pipeline.catalog import start_run
from pipeline.intake import Provenance, intake_image
from pipeline.workspace import Workspace
from tests.imagebytes import small_jpeg

CARSCOUT = Path(sys.executable).with_name("carscout")


def queue_of(ws: Workspace, n: int = 10) -> list[int]:
    """Intake ``n`` photos per label with stored scores; queue the top 30 %; return item ids
    in review order (swift photo i scores 0.9 - 0.05 i, wagonr photo i 0.88 - 0.05 i)."""
    image_ids: dict[str, list[int]] = {"swift": [], "wagonr": []}
    for label_index, label in enumerate(image_ids):
        for i in range(n):
            result = intake_image(
                ws.catalog,
                ws.store,
                small_jpeg(100 * label_index + i),
                Provenance(label=label, source_path=f"{label}/{i}.jpg"),
            )
            image_ids[label].append(int(result.image_id or 0))
    with ws.catalog.atomic() as conn:
        run_id = start_run(conn, "score", {})
        rows = []
        for label_index, (label, ids) in enumerate(image_ids.items()):
            other = "wagonr" if label == "swift" else "swift"
            for i, image_id in enumerate(ids):
                issue = 0.9 - 0.05 * i - 0.02 * label_index
                rows.append(
                    {
                        "image_id": image_id,
                        "run_id": run_id,
                        "feature_source": "test",
                        "model": "test",
                        "label": label,
                        "suggested_label": other if i % 2 == 0 else None,
                        "issue_score": issue,
                        "outlier_score": 2.5 if i == 1 else 1.0,
                        "probabilities": {label: 1 - issue, other: issue},
                    }
                )
        conn.execute(sa.insert(t.label_scores), rows)
    build_queue(ws.catalog, QueueConfig(budget=0.3))
    with ws.catalog.reading() as conn:
        return [item.id for item in queue_items(conn)]


def image_of(ws: Workspace, item_id: int) -> sa.Row:
    with ws.catalog.reading() as conn:
        return conn.execute(
            sa.select(t.images)
            .join(t.review_items, t.review_items.c.image_id == t.images.c.id)
            .where(t.review_items.c.id == item_id)
        ).one()


def events_of(ws: Workspace, image_id: int) -> list[tuple[str, str, str]]:
    with ws.catalog.reading() as conn:
        rows = conn.execute(
            sa.select(
                t.image_events.c.field, t.image_events.c.old_value, t.image_events.c.new_value
            )
            .where(t.image_events.c.image_id == image_id)
            .order_by(t.image_events.c.id)
        )
        return [tuple(r) for r in rows]


def decisions(ws: Workspace) -> list[tuple[int, str, str | None, bool]]:
    with ws.catalog.reading() as conn:
        rows = conn.execute(sa.select(t.review_decisions).order_by(t.review_decisions.c.id))
        return [(r.item_id, r.action, r.new_label, r.undone_at is not None) for r in rows]


def test_queue_budget_reasons_and_requeue(workspace: Workspace) -> None:
    items = queue_of(workspace)
    assert len(items) == 6  # ceil(0.3 * 10) per label
    with workspace.catalog.reading() as conn:
        queued = queue_items(conn)
    assert [i.score for i in queued] == sorted((i.score for i in queued), reverse=True)
    assert {i.reason for i in queued} == {"wrong model?", "not a car?"}
    not_a_car = [i for i in queued if i.reason == "not a car?"]
    assert all(i.suggested_label is None for i in not_a_car)
    decide(workspace.catalog, items[0], "keep", "review:test")
    again = build_queue(workspace.catalog, QueueConfig(budget=0.3))
    assert (again.added, again.refreshed, again.already_decided) == (0, 5, 1)
    forced = build_queue(workspace.catalog, QueueConfig(budget=0.3, requeue=True))
    assert forced.added == 1
    progress = queue_progress(workspace.catalog.engine.connect())
    assert (progress["pending"], progress["decided"]) == (6, 1)


def test_queue_ranks_by_issue_and_reserves_a_share_for_outliers() -> None:
    issues = [0.9, 0.2, 0.5, 0.5, 0.1]
    outliers = [1.0, 4.0, 1.0, 1.5, 3.0]
    # A high outlier ratio alone does not outrank a higher issue score; it breaks the 0.5 tie.
    assert select_top(issues, outliers, 3) == [0, 3, 2]
    # One of three places (floor(0.34 * 3)) goes to the most outlying photo not already chosen.
    assert select_top(issues, outliers, 3, outlier_share=0.34) == [0, 3, 1]
    assert select_top(issues, outliers, 10) == [0, 3, 2, 1, 4]
    with pytest.raises(ReviewError, match="outlier share"):
        QueueConfig(outlier_share=1.5)


def test_decisions_and_undo_write_history(workspace: Workspace) -> None:
    items = queue_of(workspace)
    catalog = workspace.catalog
    relabelled = image_of(workspace, items[0])
    decide(catalog, items[0], "relabel", "review:test", "wagonr")
    decide(catalog, items[1], "reject", "review:test")
    with pytest.raises(ReviewError, match="already decided"):
        decide(catalog, items[1], "keep", "review:test")
    with pytest.raises(ReviewError, match="needs a new label"):
        decide(catalog, items[2], "relabel", "review:test")
    assert image_of(workspace, items[1]).status == "rejected"
    undone = undo_last(catalog, "review:test")
    assert undone is not None and undone.item_id == items[1]
    assert image_of(workspace, items[1]).status == "active"
    assert image_of(workspace, items[0]).label == "wagonr"
    assert events_of(workspace, relabelled.id) == [("label", relabelled.label, "wagonr")]
    assert events_of(workspace, image_of(workspace, items[1]).id) == [
        ("status", "active", "rejected"),
        ("status", "rejected", "active"),
    ]
    assert undo_last(catalog, "review:someone-else") is None


def _read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"never saw {needle!r}; output:\n{seen.decode(errors='replace')}")
        if select.select([fd], [], [], remaining)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"EOF before {needle!r}:\n{seen.decode(errors='replace')}")
            seen += chunk


def _spawn_review(home: Path) -> tuple[subprocess.Popen[bytes], int]:
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "dumb", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KITTY_WINDOW_ID", None)
    process = subprocess.Popen(
        [str(CARSCOUT), "--home", str(home), "review", "--actor", "tester", "--display", "file"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        start_new_session=True,
        # A user's shell delivers Ctrl-C; a harness started in the background ignores SIGINT,
        # and Python keeps an ignored SIGINT ignored, so give the child the default back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(follower)
    return process, leader


def _send(fd: int, keys: str, seen: bytearray, expect: bytes) -> None:
    os.write(fd, keys.encode())
    _read_until(fd, expect, seen)


def test_scripted_session_in_a_pseudo_terminal(workspace: Workspace) -> None:
    items = queue_of(workspace)
    home = workspace.settings.home
    first, second, third = (image_of(workspace, i) for i in items[:3])
    process, fd = _spawn_review(home)
    seen = bytearray()
    try:
        _read_until(fd, b"uit > ", seen)
        assert b"photo: " in seen  # file fallback: a thumbnail path is printed
        _send(fd, "k", seen, b"[2/6]")
        _send(fd, "r", seen, b"relabel to:")
        _send(fd, "1", seen, b"[3/6]")
        _send(fd, "x", seen, b"[4/6]")
        _send(fd, "u", seen, b"undid reject")
        _send(fd, "s", seen, b"[4/6]")
        _send(fd, "q", seen, b"open items left")
        assert process.wait(timeout=30) == 0
    finally:
        os.close(fd)
        if process.poll() is None:
            process.kill()
    assert decisions(workspace) == [
        (items[0], "keep", None, False),
        (items[1], "relabel", "swift" if second.label == "wagonr" else "wagonr", False),
        (items[2], "reject", None, True),
        (items[2], "skip", None, False),
    ]
    assert image_of(workspace, items[0]).label == first.label
    assert image_of(workspace, items[1]).label != second.label
    assert image_of(workspace, items[2]).status == "active" == third.status
    with workspace.catalog.reading() as conn:
        progress = queue_progress(conn)
        reopened = [i.id for i in queue_items(conn)]
    assert (progress["decided"], progress["skipped"], progress["pending"]) == (2, 1, 3)
    assert reopened == items[3:] + [items[2]]  # the skipped item comes back at the end


def test_a_killed_session_loses_no_decision_and_resumes(workspace: Workspace) -> None:
    items = queue_of(workspace)
    process, fd = _spawn_review(workspace.settings.home)
    seen = bytearray()
    try:
        _read_until(fd, b"[1/6]", seen)
        _send(fd, "k", seen, b"[2/6]")
        _send(fd, "x", seen, b"[3/6]")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        os.close(fd)
    assert [d[:2] for d in decisions(workspace)] == [(items[0], "keep"), (items[1], "reject")]
    assert image_of(workspace, items[1]).status == "rejected"
    process, fd = _spawn_review(workspace.settings.home)
    seen = bytearray()
    try:
        _read_until(fd, b"[1/4]", seen)
        assert f"item {items[2]} ".encode() in seen
        # Ctrl-C: the pty is not the child's controlling terminal, so send the signal itself.
        os.killpg(process.pid, signal.SIGINT)
        _read_until(fd, b"open items left", seen)
        process.wait(timeout=30)
    finally:
        os.close(fd)
        if process.poll() is None:
            process.kill()


def test_sheets_and_a_good_decisions_file(workspace: Workspace, tmp_path: Path) -> None:
    items = queue_of(workspace)
    result = write_sheets(workspace.catalog, workspace.store, tmp_path / "sheets", per_sheet=4)
    assert [p.name for p in result.sheets] == ["sheet-001.png", "sheet-002.png"]
    with result.decisions.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["item_id"]) for r in rows] == items
    rows[0]["action"], rows[1]["action"] = "reject", "relabel"
    rows[1]["new_label"] = "sedan"
    with result.decisions.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, rows[0].keys())
        writer.writeheader()
        writer.writerows(rows)
    # "sedan" is a label no photo carries yet: refused unless asked for, and nothing applied.
    with pytest.raises(DecisionFileError, match=r"line 3: new_label 'sedan' is not a label"):
        apply_decisions_file(workspace.catalog, result.decisions, "review:batch")
    assert image_of(workspace, items[0]).status == "active"
    summary = apply_decisions_file(
        workspace.catalog, result.decisions, "review:batch", allow_new_labels=True
    )
    assert summary.applied == {"reject": 1, "relabel": 1} and summary.left_open == 4
    assert image_of(workspace, items[0]).status == "rejected"
    assert image_of(workspace, items[1]).label == "sedan"


def test_a_bad_decisions_file_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    items = queue_of(workspace)
    before = [tuple(image_of(workspace, i)) for i in items]
    bad = tmp_path / "decisions.csv"
    bad.write_text(
        "item_id,action,new_label\n"
        f"{items[0]},reject,\n"
        f"{items[1]},relabel,\n"
        f"{items[2]},destroy,\n"
        "9999,keep,\n"
        f"{items[0]},keep,\n"
    )
    with pytest.raises(DecisionFileError) as error:
        apply_decisions_file(workspace.catalog, bad, "review:batch")
    assert [p.split(":")[0] for p in error.value.problems] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
    ]
    assert [tuple(image_of(workspace, i)) for i in items] == before
    assert decisions(workspace) == []
    result = subprocess.run(
        [str(CARSCOUT), "--home", str(workspace.settings.home), "review", "apply", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "nothing applied" in result.stderr and "line 4" in result.stderr
    assert decisions(workspace) == []


def test_display_detection_picks_a_protocol_or_the_half_block_fallback() -> None:
    from curation.review.terminal_image import detect_display

    assert detect_display({"TERM": "xterm-kitty"}) == "kitty"
    assert detect_display({"TERM_PROGRAM": "iTerm.app"}) == "iterm"
    assert detect_display({"TERM": "xterm-256color"}, tty=False) == "file"
    assert detect_display({"TERM": "dumb"}, tty=True) == "file"
    assert detect_display({"TERM": "xterm"}, tty=True, sixel_probe=lambda: True) == "sixel"
    assert detect_display({"TERM": "tmux-256color"}, tty=True, sixel_probe=lambda: False) == (
        "halfblock"
    )


# --- issue 18: the review guards the label set, counts what stands, undo returns -----------


def _keys(script: str):  # noqa: ANN202 - a KeyReader
    """Return a key reader that types ``script`` and then ends (quits)."""
    pending = list(script)
    return lambda: pending.pop(0) if pending else ""


def _session(ws: Workspace, script: str, actor: str = "review:test") -> tuple[object, str]:
    import io

    from curation.review.tui import review_loop

    out = io.StringIO()
    summary = review_loop(ws.catalog, ws.store, _keys(script), out, actor)
    return summary, out.getvalue()


def test_a_mistyped_label_needs_confirmation_and_offers_the_closest(workspace: Workspace) -> None:
    items = queue_of(workspace)
    first = image_of(workspace, items[0])
    other = "wagonr" if first.label == "swift" else "swift"
    typo = other[0] + other[2] + other[1] + other[3:]  # e.g. "swfit" / "wgaonr"
    # A typo and any key but Enter/y: nothing saved, the same item is asked again.
    _, text = _session(workspace, f"r/{typo}\rq")
    assert f"{typo!r} is not a label in the catalog (closest: {other})" in text
    assert "saved: relabel" not in text and decisions(workspace) == []
    # Enter takes the closest existing label.
    _, text = _session(workspace, f"r/{typo}\r\rq")
    assert f"saved: relabel → {other}" in text
    assert image_of(workspace, items[0]).label == other
    # y starts a new label on purpose.
    _, text = _session(workspace, "r/sedan\ryq")
    assert "saved: relabel → sedan" in text
    assert image_of(workspace, items[1]).label == "sedan"


def test_the_quit_summary_counts_the_decisions_that_stand(workspace: Workspace) -> None:
    queue_of(workspace)
    # keep A, B, C; undo (C); keep C again; undo (C), undo (B); keep B: A and B stand.
    summary, text = _session(workspace, "kkkukuuk")
    assert "Saved decisions — keep 2, relabel 0, reject 0, skip 0 (3 undone)" in text
    assert len([d for d in decisions(workspace) if not d[3]]) == 2
    assert summary.keep == 2  # type: ignore[attr-defined]


def test_undo_after_a_restart_returns_to_a_skipped_item(workspace: Workspace) -> None:
    items = queue_of(workspace)
    _session(workspace, "sq")  # skip the first item, quit
    _, text = _session(workspace, "uq")  # a new session: undo first
    after_undo = text.split(f"undid skip of item {items[0]}", 1)[1]
    assert f"item {items[0]} " in after_undo.split("\n[", 2)[1]
    # The same for a relabel, which already worked.
    _session(workspace, "r1q")
    _, text = _session(workspace, "uq")
    assert f"item {items[0]} " in text.split(f"undid relabel of item {items[0]}", 1)[1]


def test_open_without_a_viewer_says_which_viewer_was_tried(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from curation.review.terminal_image import PhotoShower

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    photo = tmp_path / "p.jpg"
    photo.write_bytes(small_jpeg(1))
    shower = PhotoShower("file", tmp_path / "thumbs", open_viewer=True)
    out = io.StringIO()
    shower.show(1, photo, out)
    shower.show(2, photo, out)
    assert out.getvalue().count("--open: tried xdg-open") == 1  # said once, not per photo


def test_the_reason_follows_the_outlier_score(workspace: Workspace) -> None:
    from curation.review.queue import reason_for

    # A document: the classifier names the other car, but it is far from every photo of its
    # label -> "not a car?" with no suggestion (reject).
    assert reason_for(0.8, 3.0, "wagonr") == ("not a car?", None)
    # A car of the other model: confident other class, only a little unusual.
    assert reason_for(0.95, 1.3, "wagonr") == ("wrong model?", "wagonr")


def test_review_apply_names_a_new_label_and_hints_repeat_home(
    workspace: Workspace, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from cli.app import app

    items = queue_of(workspace)
    home = str(workspace.settings.home)
    result = CliRunner().invoke(app, ["--home", home, "review", "sheet", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"`carscout --home {home} review apply" in result.output.replace("\n", "")
    path = tmp_path / "decisions.csv"
    path.write_text(f"item_id,action,new_label\n{items[0]},relabel,swfit\n")
    result = CliRunner().invoke(app, ["--home", home, "review", "apply", str(path)])
    assert result.exit_code != 0
    assert "did you mean 'swift'?" in str(result.exception)
    assert "--allow-new-labels" in str(result.exception)
    path.write_text(f"item_id,action,new_label\n{items[0]},relabel,sedan\n")
    result = CliRunner().invoke(
        app, ["--home", home, "review", "apply", str(path), "--allow-new-labels"]
    )
    assert result.exit_code == 0, result.output
