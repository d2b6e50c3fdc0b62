"""The MUSHRA panel in headless Chromium: a full session of studies/example_mushra.yaml at desktop (1280x800) and
phone (390x844) widths.

The example's stimulus set is built with tiny random models and 2 s excerpts; the app runs as `python app.py`.
The test reads the panel's state through `window.mushraPanel` (app/static/mushra.js): the audio context's
playback position around a switch, the gains of every stimulus, and the scores; then it exports ratings.csv and
compares it with the sliders. Screenshots are saved under test-output/browser/.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from app import messages
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS, PHONE, SHOTS, run, serve, shot
from tests.support.paths import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SMALL_DESKTOP = {"width": 1280, "height": 800}
STATE = "() => window.mushraPanel && window.mushraPanel.state()"
SET_SLIDER = """([index, value]) => {
    const slider = document.querySelectorAll('#mushra-panel .mushra-slider')[index];
    slider.value = String(value);
    slider.dispatchEvent(new Event('input', {bubbles: true}));
}"""


@pytest.fixture(scope="module")
def mushra_app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[dict]:
    """studies/example_mushra.yaml (2 s excerpts, tiny models) built and served by `python app.py`."""
    tmp = tmp_path_factory.mktemp("mushra")
    raw = yaml.safe_load((ROOT / "studies" / "example_mushra.yaml").read_text())
    raw["stimuli"]["dir"] = str(tmp / "stimuli")
    raw["stimuli"]["build"].update(mixtures=str(ROOT / "examples" / "examples.csv"), excerpt_s=2, dnsmos=False)
    study = tmp / "example_mushra.yaml"
    study.write_text(yaml.safe_dump(raw))
    build = ["-m", "listening_tests", "build", "--study", str(study), "--models", str(tiny_models)]
    run(*build, "--device", "cpu", "--workers", "0", "--quiet")
    (tmp / "tmp").mkdir()
    with serve(tmp, study, tiny_models, tmp / "tmp") as url:
        yield {"url": url, "tmp": tmp}


@pytest.fixture(scope="module")
def page(mushra_app: dict) -> Iterator:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport=SMALL_DESKTOP, has_touch=True)
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def state(page) -> dict:
    return page.evaluate(STATE)


def wait_for_panel(page, previous: str | None) -> dict:
    """The panel of a new page, its clips decoded."""
    page.wait_for_function(
        "previous => window.mushraPanel && mushraPanel.state().loaded && mushraPanel.state().page !== previous",
        arg=previous,
    )
    return state(page)


def assert_one_heard(panel: dict) -> None:
    """No two sources audible at once: the stimulus heard has gain 1, every other 0 (all 0 when stopped)."""
    heard = [gain for gain in panel["gains"] if gain > 0]
    if panel["playing"]:
        assert heard == [1.0] and panel["gains"][panel["current"]] == 1.0, panel
    else:
        assert heard == [], panel


def stimulus(page, index: int):
    return page.locator("#mushra-panel .mushra-stimulus").nth(index)


def play_every_stimulus(page, n: int) -> None:
    """Play, then switch through every stimulus (clicks and the keyboard), checking the gains at each switch."""
    page.get_by_role("button", name=messages.MUSHRA_PANEL["play"], exact=True).click()
    for index in range(1, n):
        if index % 2:
            stimulus(page, index).click()
        else:
            page.keyboard.press("ArrowRight")
        page.wait_for_timeout(120)
        panel = state(page)
        assert panel["current"] == index and panel["played"][index]
        assert_one_heard(panel)


def test_a_full_mushra_session_desktop_and_phone(mushra_app: dict, page) -> None:
    page.goto(mushra_app["url"])
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").click()

    panel = wait_for_panel(page, None)  # the training page
    n = len(panel["played"])
    assert n == 8  # the open reference and the example's 7 conditions
    assert page.evaluate("() => document.querySelectorAll('audio').length") == 0  # no players, no speed control
    play_every_stimulus(page, n)
    page.get_by_role("button", name=messages.MUSHRA_PANEL["save"]).click()

    given: list[float] = []
    previous = panel["page"]
    for number in range(3):  # the example's items_per_session
        panel = wait_for_panel(page, previous)
        previous = panel["page"]
        assert panel["page"].startswith("page-")
        if number == 2:
            page.set_viewport_size(PHONE)
            page.wait_for_timeout(300)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the phone page is {width} px wide"
            reference = stimulus(page, 0)
            assert reference.inner_text() == messages.MUSHRA_PANEL["reference_short"]  # fits: not cut to "Refer..."
            assert reference.evaluate("b => b.scrollWidth <= b.clientWidth")
            assert reference.get_attribute("aria-label") == messages.MUSHRA_PANEL["reference"]
        else:
            height = page.evaluate("() => document.documentElement.scrollHeight")
            assert height <= SMALL_DESKTOP["height"], f"the trial is {height} px high on a 1280x800 screen"
        sliders = page.locator("#mushra-panel .mushra-slider")
        assert sliders.count() == n - 1 and all(sliders.nth(i).is_disabled() for i in range(n - 1))  # not heard yet

        if number == 0:
            check_switching_keeps_the_position(page)
            page.get_by_role("button", name=messages.MUSHRA_PANEL["stop"]).click()
        play_every_stimulus(page, n)
        assert not any(sliders.nth(i).is_disabled() for i in range(n - 1))  # every condition heard: all open
        scores = [10 * number + 5 * i + 1 for i in range(n - 1)]
        for index, score in enumerate(scores[:-2]):
            page.evaluate(SET_SLIDER, [index, score])  # as a drag does: the input event
        stimulus(page, n - 2).click()  # the keyboard sets the slider of the stimulus heard
        page.keyboard.press("PageUp")
        for _ in range(scores[-2] - 10):
            page.keyboard.press("ArrowUp")
        assert state(page)["scores"][-2] == scores[-2]
        if number == 0:
            page.get_by_role("button", name=messages.MUSHRA_PANEL["save"]).click()
            untouched = messages.untouched_sliders([page.locator("#mushra-panel .mushra-stimulus").last.inner_text()])
            page.get_by_role("alert").filter(has_text=untouched).wait_for()
            assert state(page)["page"] == panel["page"]  # refused: the same page
            shot(page, "20-mushra-untouched-refused-desktop")
        if number == 2:
            box = sliders.last.bounding_box()  # a touch on the last slider's track, 3/4 of the way up
            page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 4)
            scores[-1] = state(page)["scores"][-1]
            assert scores[-1] is not None and 60 <= scores[-1] <= 90
        else:
            page.evaluate(SET_SLIDER, [n - 2, scores[-1]])
        assert state(page)["scores"] == scores
        shot(page, f"2{number + 1}-mushra-page{number + 1}-{'phone' if number == 2 else 'desktop'}")
        page.get_by_role("button", name=messages.MUSHRA_PANEL["save"]).click()
        given += scores

    page.get_by_text("Your completion code is").wait_for()
    out = mushra_app["tmp"] / "ratings.csv"
    run(
        "-m",
        "listening_tests",
        "export",
        "--db",
        f"sqlite:///{mushra_app['tmp'] / 'data' / 'ratings.sqlite'}",
        "--out",
        str(out),
    )
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["protocol"] for r in rows} == {"mushra"} and len({r["session_id"] for r in rows}) == 1
    assert sorted(float(r["score"]) for r in rows) == sorted(given)
    assert all(float(r["listen_s"]) > 0 for r in rows)  # each condition's time while it was the one heard


def check_switching_keeps_the_position(page) -> None:
    """Switching goes on at the same position of the audio context's clock, without restarting the sources."""
    page.get_by_role("button", name=messages.MUSHRA_PANEL["play"], exact=True).click()
    page.wait_for_timeout(400)
    before = page.evaluate(
        "() => { const p = window.mushraPanel; const s = p.state(); p.select(3); return [s, p.state()]; }"
    )
    start, switched = before
    assert switched["current"] == 3 and switched["starts"] == start["starts"]
    assert abs(switched["position"] - start["position"]) < 0.05
    page.wait_for_timeout(300)
    after = state(page)
    moved = (after["position"] - switched["position"]) % after["duration"]
    assert 0.2 < moved < 0.6, (switched, after)  # went on from where it was: not back to the start
    assert after["starts"] == start["starts"]
    assert_one_heard(after)


@pytest.fixture(scope="module")
def options_app(mushra_app: dict, tiny_models: Path) -> Iterator[dict]:
    """The same stimuli under a study whose panel restarts on switching and opens only the slider heard."""
    tmp = mushra_app["tmp"]
    raw = yaml.safe_load((tmp / "example_mushra.yaml").read_text())
    raw["id"] = "example-mushra-options"
    raw["mushra"] = {"switching": "restart", "loop": True, "exclusive_sliders": True}
    study = tmp / "example_mushra_options.yaml"
    study.write_text(yaml.safe_dump(raw))
    (tmp / "options").mkdir()
    with serve(tmp / "options", study, tiny_models, tmp / "tmp") as url:
        yield {"url": url}


def test_a_dragged_loop_region_restart_switching_and_exclusive_sliders(options_app: dict, page) -> None:
    page.set_viewport_size(SMALL_DESKTOP)
    page.goto(options_app["url"])
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").click()
    panel = wait_for_panel(page, None)
    duration = panel["duration"]

    wave = page.locator("#mushra-panel .mushra-wave").bounding_box()  # drag a region from 1/4 to 3/4
    y = wave["y"] + wave["height"] / 2
    page.mouse.move(wave["x"] + wave["width"] / 4, y)
    page.mouse.down()
    page.mouse.move(wave["x"] + wave["width"] / 2, y, steps=4)
    page.mouse.move(wave["x"] + 3 * wave["width"] / 4, y, steps=4)
    page.mouse.up()
    start, end = state(page)["loop"]
    assert start == pytest.approx(duration / 4, abs=0.05 * duration)
    assert end == pytest.approx(3 * duration / 4, abs=0.05 * duration)

    page.get_by_role("button", name=messages.MUSHRA_PANEL["play"], exact=True).click()
    positions = []
    for _ in range(12):  # longer than the region: playback wraps inside it
        page.wait_for_timeout(100)
        positions.append(state(page)["position"])
    assert all(start - 0.02 <= p <= end + 0.02 for p in positions), (start, end, positions)

    # restart: the new stimulus plays from the start of the region (switch and read in one turn of the page's
    # event loop, so that a busy machine cannot let the playback move on in between)
    before, switched = page.evaluate(
        "() => { const p = window.mushraPanel; const s = p.state(); p.select(2); return [s, p.state()]; }"
    )
    assert switched["current"] == 2 and switched["starts"] == before["starts"] + 1
    assert switched["position"] == pytest.approx(start, abs=0.02)
    page.wait_for_timeout(100)  # gain changes are scheduled on the audio clock: read them once it has run
    assert_one_heard(state(page))
    stimulus(page, 3).click()  # a click restarts as well
    assert state(page)["current"] == 3 and state(page)["starts"] == before["starts"] + 2

    for index in range(1, len(panel["played"])):
        stimulus(page, index).click()
        page.wait_for_timeout(60)
    sliders = page.locator("#mushra-panel .mushra-slider")
    current = state(page)["current"]
    assert all(state(page)["played"])
    open_sliders = [i for i in range(sliders.count()) if not sliders.nth(i).is_disabled()]
    assert open_sliders == [current - 1]  # every condition heard, but only the one being heard can move
    stimulus(page, 1).click()
    assert not sliders.nth(0).is_disabled() and sliders.nth(current - 1).is_disabled()
    assert page.locator("#mushra-panel .mushra-hint").inner_text().startswith(messages.MUSHRA_PANEL["hint_restart"])
    shot(page, "25-mushra-options-desktop")
