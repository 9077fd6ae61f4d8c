"""The review console in a real browser: Debian's headless Chromium driven by Selenium.

A lead logs in, filters the answers to 👎, opens one, marks it verified, writes a correction
and downloads the CSV. A screenshot of each page is saved under ``reports/browser/`` (the test's
artifacts). ``scripts/test.sh`` installs Debian's ``chromium`` and ``chromium-driver``; the
test skips, saying why, only where they are not installed.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.feedback import FeedbackStore
from bot.review.app import create_app
from bot.review.auth import add_user, load_users
from tests.test_feedback_report import seed

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "reports" / "browser"
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are not installed "
    "(scripts/test.sh installs them: apt-get install chromium chromium-driver)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, FeedbackStore, list[str]]]:
    import uvicorn

    store = FeedbackStore(f"sqlite:///{tmp_path / 'fb.db'}")
    ids = asyncio.run(seed(store, "C1"))
    add_user(tmp_path / "users.json", "lead", PASSWORD)
    app = create_app(store, users=load_users(tmp_path / "users.json"), secret_key="browser")
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not web.started:
        if time.monotonic() > deadline:
            raise AssertionError("the console did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store, ids
    web.should_exit = True
    thread.join(10)
    store.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.downloads = downloads  # type: ignore[attr-defined]
    yield driver
    driver.quit()


def test_lead_reviews_a_thumbs_down_answer(
    server: tuple[str, FeedbackStore, list[str]], browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, store, ids = server
    d = browser
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        d.save_screenshot(str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]

    def submit(css: str) -> None:
        """Click a submit button and wait until the next page replaced this one (a mark set on
        this page's window is gone and the new page has loaded; Chromium can answer a check on
        an element of the old page with an inspector error rather than "stale", so none is
        made)."""
        from selenium.webdriver.support.ui import WebDriverWait

        d.execute_script("window.__supportbotOldPage = true")  # type: ignore[attr-defined]
        d.find_element(By.CSS_SELECTOR, css).click()  # type: ignore[attr-defined]
        WebDriverWait(d, 10).until(  # type: ignore[arg-type]
            lambda drv: drv.execute_script(
                "return window.__supportbotOldPage === undefined"
                " && document.readyState === 'complete'"
            )
        )

    d.get(base + "/answers")  # type: ignore[attr-defined]
    assert "/login" in d.current_url  # type: ignore[attr-defined]
    shot("1-login")
    d.find_element(By.NAME, "username").send_keys("lead")  # type: ignore[attr-defined]
    d.find_element(By.NAME, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    submit("form button[type=submit]")
    assert d.current_url.endswith("/answers")  # type: ignore[attr-defined]
    shot("2-answers")

    Select(d.find_element(By.NAME, "vote")).select_by_value("down")  # type: ignore[attr-defined]
    submit("form.filters button")
    assert "vote=down" in d.current_url  # type: ignore[attr-defined]
    links = d.find_elements(By.CSS_SELECTOR, "#answers td a")  # type: ignore[attr-defined]
    assert {a.get_attribute("href").rsplit("/", 1)[1] for a in links} == {ids[1], ids[3]}
    shot("3-answers-thumbs-down")

    d.find_element(By.LINK_TEXT, "question 1?").click()  # type: ignore[attr-defined]
    assert "wrong plan" in d.page_source  # type: ignore[attr-defined]
    submit("button[value=verified]")
    d.find_element(By.NAME, "text").send_keys("Sixty days [1].")  # type: ignore[attr-defined]
    d.find_element(By.CSS_SELECTOR, "input[name=cite]").click()  # type: ignore[attr-defined]
    submit("button[value=corrected]")
    table = d.find_element(By.ID, "curations").text  # type: ignore[attr-defined]
    assert "verified" in table and "corrected" in table and "Sixty days [1]." in table
    shot("4-answer-curated")
    actions = [c.action for c in asyncio.run(store.curations(ids[1]))]
    assert actions == ["verified", "corrected"]

    d.get(base + "/answers?vote=down")  # type: ignore[attr-defined]
    d.find_element(By.LINK_TEXT, "CSV").click()  # type: ignore[attr-defined]
    downloads: Path = d.downloads  # type: ignore[attr-defined]
    # Chromium reserves the final name with an empty file and writes to a .crdownload file
    # that it renames when done: the download is finished when no .crdownload is left and the
    # CSV has its header.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        list(downloads.glob("*.crdownload"))
        or not [f for f in downloads.glob("*.csv") if f.stat().st_size > 0]
    ):
        time.sleep(0.1)
    (exported,) = downloads.glob("*.csv")
    rows = list(csv.DictReader(exported.open(encoding="utf-8")))
    assert {r["answer_id"] for r in rows} == {ids[1], ids[3]}
    d.get(base + "/")  # type: ignore[attr-defined]
    shot("5-overview")
