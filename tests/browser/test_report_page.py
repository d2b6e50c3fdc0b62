"""report.html in headless Chromium at desktop and phone width: the page never scrolls sideways."""

from __future__ import annotations

from pathlib import Path

import pytest

from listening_tests.report import analyze
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE
from tests.listening_tests.test_analysis import N_BOOT, TRUE_MEANS, make_study
from tests.support.paths import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ROOT / "test-output" / "report"
LAYOUT = """() => ({
    page: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    widest: Math.max(...[...document.querySelectorAll('p, li, h1, h2, h3, figure, .table')]
        .map(e => e.getBoundingClientRect().right)),
    images: [...document.querySelectorAll('img')].map(i => i.complete && i.naturalWidth > 0),
})"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_report_fits_the_screen(tmp_path: Path, viewport: dict) -> None:
    from playwright.sync_api import sync_playwright

    conditions = {**TRUE_MEANS, "a_much_longer_condition_name_from_some_study": 3.0}
    ratings_csv, manifest_csv = make_study(tmp_path, conditions=conditions)
    analyze(ratings_csv, manifest_csv, tmp_path / "out", n_boot=N_BOOT)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport=viewport)
        page.goto((tmp_path / "out" / "report.html").as_uri())
        layout = page.evaluate(LAYOUT)
        page.screenshot(path=str(SHOTS / f"report-{viewport['width']}.png"), full_page=True)
        browser.close()
    assert layout["page"] <= layout["viewport"]  # wide tables scroll inside their own box
    assert layout["widest"] <= layout["viewport"] + 1
    assert layout["images"] and all(layout["images"])
