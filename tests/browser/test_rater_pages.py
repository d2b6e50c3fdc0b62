"""The rater's pages in headless Chromium: the entry points, the introduction, enforced training, a crowdsourced
session ending with its code, copy button, return link and redirect, and the quota.

The app runs as `python app.py` over a small hand-made stimulus set (0.5 s clips, no models needed to build
it) and a crowdsourcing study: participant id from the link, a completion link, a quota of one completed
session. Screenshots are saved under test-output/browser/ at desktop and phone widths.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import messages
from listening_tests.estimate import estimate_session
from listening_tests.stimuli import load_stimulus_set
from listening_tests.study import check_conditions, load_study
from tests.browser.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    PLAY_VISIBLE_CLIP,
    SHOTS,
    serve,
    shot,
)
from tests.support.app import make_stimuli, write_study

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RETURN = "https://app.prolific.com/submissions/complete?cc={code}"
CLIP_UNLOCKED = "() => [...document.querySelectorAll('input[type=radio]')].some(r => !r.disabled && r.offsetParent)"


@pytest.fixture(scope="module")
def crowd_app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[dict]:
    """`python app.py` serving a crowdsourcing ACR study over 0.5 s clips on a free port."""
    tmp = tmp_path_factory.mktemp("rater-pages")
    fields = {"ask_participant_id": True, "completion_url": RETURN, "quota": 1, "items_per_session": 2}
    study = write_study(tmp, make_stimuli(tmp / "stimuli"), "acr", **fields)
    with serve(tmp, study, tiny_models, tmp) as url:
        yield {"url": url, "study": study}


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def new_page(browser, viewport: dict = DESKTOP):
    """A fresh visitor (its own browser storage)."""
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(30_000)
    return page


def test_the_study_link_shows_only_the_listening_test(crowd_app: dict, browser) -> None:
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_page(browser, viewport)
        page.goto(crowd_app["url"])
        page.get_by_text("About this test").wait_for()
        assert page.get_by_role("button", name="Continue").is_visible()
        for hidden in ("Side-by-side lab", "Results", "Separate", "Show results", "Admin password"):
            assert page.get_by_text(hidden, exact=True).count() == 0, hidden
        assert page.locator("a[href*='lab'], a[href*='results']").count() == 0  # no way to the other pages
        assert page.get_by_role("tab").count() == 0 and page.get_by_role("link", name="Home").is_hidden()
        assert page.get_by_role("navigation").is_hidden()
        shot(page, f"10-intro-{name}")
        page.context.close()


def test_the_lab_and_the_results_have_their_own_addresses(crowd_app: dict, browser) -> None:
    page = new_page(browser)
    page.goto(f"{crowd_app['url']}/lab")
    page.get_by_role("button", name="Separate").wait_for()
    assert page.get_by_text("About this test").count() == 0
    shot(page, "11-lab-page")
    page.goto(f"{crowd_app['url']}/results")
    page.get_by_role("button", name="Show results").wait_for()  # loopback and no password: open results
    assert page.get_by_role("button", name="Separate").count() == 0
    shot(page, "12-results-page")
    page.context.close()


def test_the_introduction_gives_the_number_of_trials_and_the_duration(crowd_app: dict, browser) -> None:
    study = load_study(crowd_app["study"])
    stimuli = load_stimulus_set(study.manifest)
    estimate = estimate_session(study, stimuli, check_conditions(study, stimuli.conditions))
    assert (estimate.pages, estimate.training_pages) == (4, 3)  # 2 clips + trap + gold; reference, mixture, other
    page = new_page(browser, PHONE)
    page.goto(crowd_app["url"])
    page.get_by_text("You will rate 4 clips, one per page, after 3 practice pages").wait_for()
    minutes = "1 minute" if estimate.minutes == 1 else f"{estimate.minutes} minutes"
    assert page.get_by_text(f"It takes about {minutes}").is_visible()
    page.context.close()


def test_training_cannot_be_skipped(crowd_app: dict, browser) -> None:
    page = new_page(browser, PHONE)
    page.goto(f"{crowd_app['url']}/?PROLIFIC_PID=trainee")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("heading", name=re.compile("Training page 1 of 3")).wait_for()
    page.get_by_text(messages.training_example("best")).wait_for()
    page.get_by_text(messages.PLAY_TO_UNLOCK).first.wait_for()  # the locked answers say why
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("alert").filter(has_text=messages.LISTEN_FIRST).wait_for()
    assert page.get_by_role("heading", name=re.compile("Training page 1 of 3")).is_visible()
    shot(page, "13-training-refused-phone")
    assert page.evaluate(PLAY_VISIBLE_CLIP)
    page.wait_for_function(CLIP_UNLOCKED, timeout=20_000)
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("heading", name=re.compile("Training page 2 of 3")).wait_for()
    page.get_by_text(messages.training_example("worst")).wait_for()
    page.context.close()


def test_a_crowdsourced_session_ends_with_the_code_a_copy_button_and_the_redirect(crowd_app: dict, browser) -> None:
    page = new_page(browser)
    page.route("https://app.prolific.com/**", lambda route: route.fulfill(status=200, body="Prolific"))
    page.goto(f"{crowd_app['url']}/?PROLIFIC_PID=abc")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="I agree and want to take part").wait_for()
    assert not page.get_by_label("Your participant id").is_visible()  # taken from the link
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").click()
    done = page.get_by_text("Your completion code is")
    for step in range(20):
        title = page.locator("h3", has_text=re.compile(r"Page \d+ of|Training page")).first
        title.or_(done).first.wait_for()
        if done.is_visible():
            break
        heading = title.inner_text()
        if step == 4:
            page.set_viewport_size(PHONE)
        assert page.evaluate(PLAY_VISIBLE_CLIP), "no playable clip on the page"
        page.wait_for_function(CLIP_UNLOCKED, timeout=20_000)
        if not heading.startswith("Training"):  # any answer: screening is not what this test is about
            page.get_by_role("radio", name=re.compile(r"^3 ")).check()
        page.get_by_role("button", name="Save and continue").click()
        page.locator("h3", has_text=heading).wait_for(state="detached")
    code = re.search(r"completion code is (\S+)", done.inner_text()).group(1)
    assert re.fullmatch(r"APP-[0-9A-F]{8}", code)
    assert page.locator("textarea:visible, input[type=text]:visible").input_value() == code  # the box to copy from
    copy = page.get_by_role("button", name=re.compile("copy", re.I))
    assert copy.count() == 1 and copy.is_visible()
    link = page.get_by_role("link", name=messages.RETURN_LINK)
    assert link.get_attribute("href") == RETURN.replace("{code}", code)
    shot(page, "14-crowd-done-phone")
    page.set_viewport_size(DESKTOP)
    shot(page, "15-crowd-done-desktop")
    page.wait_for_url(RETURN.replace("{code}", code), timeout=(messages.REDIRECT_S + 10) * 1000)  # taken back
    page.context.close()


def test_a_new_visitor_after_the_quota_is_told_the_study_is_full(crowd_app: dict, browser) -> None:
    page = new_page(browser, PHONE)  # the session above completed the quota of one
    page.goto(f"{crowd_app['url']}/?PROLIFIC_PID=late")
    page.get_by_text("this study is full").wait_for()
    assert page.get_by_role("button", name="Continue").is_hidden()
    shot(page, "16-study-full-phone")
    page.context.close()
