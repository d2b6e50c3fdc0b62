"""The study monitor on /results in headless Chromium (desktop and phone): it shows once the admin opens the
results and updates by itself (its timer) after a rater stores a rating through the running app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.rater_load import endpoints_of, run_rater
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, SHOTS, serve, shot
from tests.support.app import make_stimuli, write_study

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def monitored_app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[str]:
    """`python app.py` on loopback (results open without a password) over 0.3 s clips, no training, and no
    trapping or gold clip (a rater's first rating is then always a vote for a stimulus)."""
    tmp = tmp_path_factory.mktemp("monitor")
    fields = {"training_items": 0, "trapping": 0, "gold": 0}
    study = write_study(tmp, make_stimuli(tmp / "stimuli", duration_s=0.3), "acr", **fields)
    with serve(tmp, study, tiny_models, tmp) as url:
        yield url


def test_the_monitor_shows_and_updates_after_a_new_rating(monitored_app: str) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for rated, (name, viewport) in enumerate((("desktop", DESKTOP), ("phone", PHONE)), start=1):
            page = chromium.new_context(viewport=viewport).new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{monitored_app}/results")
            page.get_by_role("button", name="Show results").click()
            monitor = page.locator("#study-monitor")
            monitor.get_by_text("Study monitor").wait_for()
            assert f"{rated - 1} raters have rated" in monitor.inner_text()
            log = run_rater(monitored_app, endpoints_of(monitored_app), 1, seed=rated)
            assert log.acknowledged == 1, log.errors
            # no click: the monitor's timer reads the store again within its period
            monitor.get_by_text(f"{rated} raters have rated").wait_for(timeout=25_000)
            text = monitor.inner_text()
            assert f"Sessions: {rated} started, 0 completed" in text and "max 1" in text
            shot(page, f"40-monitor-{name}")
            page.context.close()
        chromium.close()
