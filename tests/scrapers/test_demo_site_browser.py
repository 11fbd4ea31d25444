"""A real headless Chromium finds every listing that a plain HTTP fetch cannot see."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from scrapers.browser import CHROMEDRIVER_PATH, CHROMIUM_PATH, make_chrome
from scrapers.demo_site import DemoSite

pytestmark = pytest.mark.skipif(
    not (shutil.which(CHROMIUM_PATH) and shutil.which(CHROMEDRIVER_PATH)),
    reason="Chromium and chromedriver are not installed",
)


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    driver = make_chrome()
    try:
        yield driver
    finally:
        driver.quit()


def _ready(driver: WebDriver) -> None:
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") != "loading"
    )


def test_browser_finds_every_listing_and_lazy_photo(chrome: WebDriver, demo_site: DemoSite) -> None:
    site = demo_site.generated
    for model in site.config.models:
        chrome.get(f"{demo_site.base_url}/search?model={model}&page=1")
        found: list[str] = []
        while True:
            _ready(chrome)
            cards = chrome.find_elements(By.CSS_SELECTOR, "article.listing-card a.listing-link")
            found += [urlsplit(a.get_attribute("href")).path.rsplit("/", 1)[-1] for a in cards]
            nxt = chrome.find_elements(By.CSS_SELECTOR, "a.next")
            if not nxt:
                break
            nxt[0].click()
        assert found == [x.listing_id for x in site.listings_for(model)]

    listing = site.listings_for("wagonr")[-1]
    chrome.get(f"{demo_site.base_url}/listing/{listing.listing_id}")
    _ready(chrome)
    photos = chrome.find_elements(By.CSS_SELECTOR, "img.gallery-photo")
    assert chrome.execute_script(
        "return document.querySelectorAll('img.gallery-photo.lazy').length"
    )
    chrome.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    for img in photos:
        chrome.execute_script("arguments[0].scrollIntoView()", img)
    WebDriverWait(chrome, 10).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, "img.gallery-photo.lazy")
    )
    srcs = [urlsplit(img.get_attribute("src")).path for img in photos]
    assert srcs == [f"/photos/{p}.jpg" for p in listing.photo_ids]
    paths = [path for _, path, _ in demo_site.request_log]
    assert not any(p.startswith("/private/") for p in paths)
