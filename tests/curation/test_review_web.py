"""`carscout review --web` in a real headless Chromium: 30 photos reviewed by keyboard (every
decision kind, a multi-select batch, an undo, a relabel refused by the label guard) while the
terminal review runs on the same catalog; the history rows match the keys; no item is decided
twice; requests without the token, with a foreign Host or for an image outside the catalog are
refused."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from pipeline import schema as t
from pipeline.workspace import Workspace
from scrapers.browser import CHROMEDRIVER_PATH, CHROMIUM_PATH, make_chrome
from tests.curation.review_photos import queue_photos

pytestmark = pytest.mark.skipif(
    not (shutil.which(CHROMIUM_PATH) and shutil.which(CHROMEDRIVER_PATH)),
    reason="Chromium and chromedriver are not installed",
)
CARSCOUT = Path(sys.executable).with_name("carscout")


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    driver = make_chrome(extra_args=["--window-size=1280,800"])
    try:
        yield driver
    finally:
        driver.quit()


def _read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"never saw {needle!r}:\n{seen.decode(errors='replace')}"
        if select.select([fd], [], [], remaining)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            assert chunk, f"EOF before {needle!r}:\n{seen.decode(errors='replace')}"
            seen += chunk


def _start(args: list[str], tty: bool) -> tuple[subprocess.Popen[bytes], int]:
    leader, follower = pty.openpty() if tty else os.pipe()
    env = {**os.environ, "TERM": "dumb", "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [str(CARSCOUT), *args],
        stdin=follower if tty else subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    return process, leader


def _stop(process: subprocess.Popen[bytes], fd: int) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    os.close(fd)


class Page:
    """Keys to the review page, each followed by a wait until its requests have answered."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    def idle(self) -> None:
        WebDriverWait(self.driver, 15).until(
            lambda d: d.execute_script("return document.body.dataset.busy") in ("0", None)
        )

    def press(self, *keys: str, shift: bool = False) -> None:
        chain = ActionChains(self.driver)
        if shift:
            chain.key_down(Keys.SHIFT)
        for key in keys:
            chain.send_keys(key)
        if shift:
            chain.key_up(Keys.SHIFT)
        chain.perform()
        self.idle()

    def focused(self) -> int:
        return int(
            self.driver.find_element(By.CSS_SELECTOR, ".card.focus").get_attribute("data-id")
        )

    def cards(self) -> list:  # noqa: ANN401 - WebElements
        return self.driver.find_elements(By.CSS_SELECTOR, ".card")

    def text(self, element_id: str) -> str:
        return self.driver.find_element(By.ID, element_id).text


def _history(ws: Workspace) -> list[tuple[str, int, str, str | None, bool]]:
    with ws.catalog.reading() as conn:
        rows = conn.execute(sa.select(t.review_decisions).order_by(t.review_decisions.c.id))
        return [(r.actor, r.item_id, r.action, r.new_label, r.undone_at is not None) for r in rows]


def test_review_thirty_photos_in_the_browser_beside_the_terminal(
    chrome: WebDriver, workspace: Workspace
) -> None:
    queued = queue_photos(workspace, 30, conflict_group=3)
    ids = [q.item_id for q in queued]
    home = str(workspace.settings.home)
    web, web_fd = _start(
        ["--home", home, "review", "--web", "--no-browser", "--actor", "web"], False
    )
    term, term_fd = _start(["--home", home, "review", "--display", "file", "--actor", "term"], True)
    web_out, term_out = bytearray(), bytearray()
    try:
        _read_until(web_fd, b"Ctrl-C stops", web_out)
        url = web_out.decode().split("Review page: ", 1)[1].split()[0]
        _read_until(term_fd, b"uit > ", term_out)  # the terminal shows item 1
        origin = url.split("/?")[0]
        token = url.split("token=", 1)[1]
        port = origin.rsplit(":", 1)[1]

        # The guard: no token, a foreign Host, a POST carrying the token only in the URL, an
        # image id the catalog does not hold.
        assert requests.get(origin + "/", timeout=10).status_code == 403
        assert requests.get(origin + "/api/items", timeout=10).status_code == 403
        foreign = requests.get(url, headers={"Host": f"rebind.example:{port}"}, timeout=10)
        assert foreign.status_code == 403 and "Host" in foreign.text
        posted = requests.post(
            f"{origin}/api/decide?token={token}",
            json={"items": [ids[0]], "action": "keep"},
            timeout=10,
        )
        assert posted.status_code == 403
        outside = requests.get(f"{origin}/image/999999?token={token}", timeout=10)
        assert outside.status_code == 404 and "no image 999999 in the catalog" in outside.text
        assert requests.get(f"{origin}/image/{queued[0].image_id}?token={token}", timeout=10).ok

        chrome.get(url)
        page = Page(chrome)
        page.idle()
        assert page.text("progress") == "30 open"
        group = chrome.find_element(By.CSS_SELECTOR, "section.group")
        assert len(group.find_elements(By.CSS_SELECTOR, ".card")) == 3  # side by side
        assert "kept copy" in group.find_elements(By.CSS_SELECTOR, ".card")[0].text
        loaded = chrome.execute_script(
            "return [...document.images].slice(0, 4).every(i => i.complete && i.naturalWidth > 0)"
        )
        assert loaded
        assert page.focused() == ids[0]

        page.press("k")  # keep 1
        page.press("x")  # reject 2
        page.press("s")  # skip 3
        page.press("r")
        page.press("1")  # relabel 4 to its suggestion
        # A typo is refused by the label guard, offering the closest label; Esc leaves it open.
        page.press("r")
        page.press("/")
        page.press("swfit", Keys.ENTER)
        assert "'swfit' is not a label in the catalog (closest: swift)" in page.text(
            "relabel-problem"
        )
        page.press(Keys.ESCAPE)
        assert page.focused() == ids[4]
        # A batch: 5, 6, 7, 8 selected with Shift+arrows and kept at once, then undone at once.
        page.press(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, shift=True)
        assert len(chrome.find_elements(By.CSS_SELECTOR, ".card.selected")) == 4
        page.press("k")
        assert "4 kept" in page.text("message")
        page.press("u")
        assert "Undid" in page.text("message") and page.focused() == ids[4]

        # The terminal, on the same catalog: item 1 was kept on the page, so its keep is
        # refused; it moves past 2 (decided) to 3 (only skipped) and keeps it, then keeps 5.
        os.write(term_fd, b"k")
        _read_until(term_fd, b"cannot keep: review item", term_out)
        _read_until(term_fd, f"item {ids[2]} ".encode(), term_out)
        os.write(term_fd, b"k")
        _read_until(term_fd, f"item {ids[4]} ".encode(), term_out)
        os.write(term_fd, b"k")
        _read_until(term_fd, f"item {ids[5]} ".encode(), term_out)
        os.write(term_fd, b"q")
        _read_until(term_fd, b"open items left", term_out)

        # The page still shows 5 open: its reject is refused, nothing is decided twice.
        page.press("x")
        assert "refused" in page.text("message") and "already decided" in page.text("message")
        pattern = ["k", "x", "k", "s", "k"]
        for n in range(5, 30):
            page.press(pattern[n % len(pattern)])
        assert page.text("progress") == "6 open"  # 5 skipped here, 3 skipped here but kept there
        chrome.refresh()  # resume: the page reads the queue again
        page.idle()
        assert page.text("progress") == "5 open"
        skipped = chrome.find_elements(By.CSS_SELECTOR, ".card .badge.skip")
        assert len(skipped) == 5
        # Filters: by reason (items 9 and 24 of the five are "not a car?"), then by label.
        Select(chrome.find_element(By.ID, "filter-reason")).select_by_value("not a car?")
        page.idle()
        shown = [int(c.get_attribute("data-id") or 0) for c in page.cards()]
        assert shown == [ids[8], ids[23]]
        Select(chrome.find_element(By.ID, "filter-reason")).select_by_value("")
        page.idle()
        Select(chrome.find_element(By.ID, "filter-label")).select_by_value("swift")
        page.idle()
        assert page.cards() and all(c.text.split()[0] == "swift" for c in page.cards())
    finally:
        _stop(term, term_fd)
        _stop(web, web_fd)

    history = _history(workspace)
    action = {"k": "keep", "x": "reject", "s": "skip"}
    expected_web = [
        (ids[0], "keep", None, False),
        (ids[1], "reject", None, False),
        (ids[2], "skip", None, False),
        (ids[3], "relabel", "swift", False),
        *[(ids[n], "keep", None, True) for n in range(4, 8)],
        *[(ids[n], action[pattern[n % 5]], None, False) for n in range(5, 30)],
    ]
    assert [h[1:] for h in history if h[0] == "review:web"] == expected_web
    assert [h for h in history if h[0] == "review:term"] == [
        ("review:term", ids[2], "keep", None, False),
        ("review:term", ids[4], "keep", None, False),
    ]
    standing = Counter(i for _, i, action, _, undone in history if action != "skip" and not undone)
    assert max(standing.values()) == 1  # no item decided twice
    with workspace.catalog.reading() as conn:
        labels = dict(conn.execute(sa.select(t.images.c.id, t.images.c.label)).all())
        events = conn.execute(
            sa.select(t.image_events.c.field, t.image_events.c.new_value).where(
                t.image_events.c.image_id == queued[3].image_id
            )
        ).all()
        states = Counter(conn.execute(sa.select(t.review_items.c.state)).scalars())
    assert labels[queued[3].image_id] == "swift" and ("label", "swift") in [
        tuple(e) for e in events
    ]
    assert states["pending"] == 0
