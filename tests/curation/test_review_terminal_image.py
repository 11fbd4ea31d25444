"""The terminal review draws the photo through textual-image: half-blocks in tmux (captured with
their colour codes), kitty and sixel sequences for the terminals that speak them."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image

from curation.review.terminal_image import render_photo
from pipeline.workspace import Workspace
from tests.curation.review_photos import BOTTOM, TOP, queue_photos, two_colour_png

CARSCOUT = Path(sys.executable).with_name("carscout")


def _near(found: set[tuple[int, int, int]], colour: tuple[int, int, int]) -> bool:
    return any(sum(abs(a - b) for a, b in zip(rgb, colour, strict=True)) < 30 for rgb in found)


def _colours(text: str) -> set[tuple[int, int, int]]:
    """Return every truecolor foreground/background (38;2 / 48;2) in an escape-coded text."""
    return {(int(r), int(g), int(b)) for r, g, b in re.findall(r"[34]8;2;(\d+);(\d+);(\d+)", text)}


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_review_in_tmux_draws_the_photo_in_half_blocks(workspace: Workspace) -> None:
    queued = queue_photos(workspace, 3, photo=two_colour_png())
    socket = f"carscout-test-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    command = (
        f"env TERM=tmux-256color COLORTERM=truecolor {CARSCOUT} "
        f"--home {workspace.settings.home} review --actor tmux; sleep 30"
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", "100", "-y", "40", "-s", "review", command],
        check=True,
        timeout=10,
    )
    try:
        pane = ""
        deadline = time.monotonic() + 30
        while "uit >" not in pane and time.monotonic() < deadline:
            time.sleep(0.2)
            pane = subprocess.run(
                [*tmux, "capture-pane", "-e", "-p", "-t", "review"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
        assert "uit >" in pane, pane
        assert "▀" in pane and "photo:" not in pane  # drawn, not a path to open elsewhere
        colours = _colours(pane)
        assert _near(colours, TOP) and _near(colours, BOTTOM), sorted(colours)[:20]
        subprocess.run([*tmux, "send-keys", "-t", "review", "k"], check=True, timeout=10)
        deadline = time.monotonic() + 30
        while "[2/3]" not in pane and time.monotonic() < deadline:
            time.sleep(0.2)
            pane = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", "review"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
        assert "[2/3]" in pane, pane
        subprocess.run([*tmux, "send-keys", "-t", "review", "q"], check=True, timeout=10)
    finally:
        subprocess.run([*tmux, "kill-server"], timeout=10, check=False)
    from curation.review.queue import get_item

    with workspace.catalog.reading() as conn:
        first = get_item(conn, queued[0].item_id)
    assert first is not None and first.state == "decided"


def test_kitty_and_sixel_come_from_the_library(capfd: pytest.CaptureFixture[str]) -> None:
    image = Image.open(io.BytesIO(two_colour_png()))
    sixel = io.StringIO()
    render_photo("sixel", image, sixel, 40, 12)
    assert re.search(r"\x1bP[0-9;]*q", sixel.getvalue()) and sixel.getvalue().count("\x1b\\")
    kitty = io.StringIO()
    render_photo("kitty", image, kitty, 40, 12)
    # The placeholder cells go to the stream; the image itself to the terminal (stdout).
    assert "\U0010eeee" in kitty.getvalue()
    sent = capfd.readouterr().out
    assert "\x1b_G" in sent and "f=100" in sent
    half = io.StringIO()
    render_photo("halfblock", image, half, 40, 12, colors="truecolor")
    assert _near(_colours(half.getvalue()), TOP) and _near(_colours(half.getvalue()), BOTTOM)
    assert os.linesep in half.getvalue()
