"""A CCR session (ITU-T P.808 Annex E) in headless Chromium at desktop (1280) and phone (390) widths: two players
A and B, the answers locked until both were played to the end, the seven CCR choices, the completion code.

Screenshots are saved under test-output/browser/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import messages
from listening_tests.protocols import SCALE_QUESTIONS
from tests.browser.test_browser import DESKTOP, PHONE, serve, shot
from tests.browser.test_rater_pages import browser  # noqa: F401 (fixture)
from tests.support.app import make_stimuli, write_study

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLAYERS = "[...document.querySelectorAll('audio')].filter(a => a.offsetParent !== null && a.src)"
PLAY = f"""(slot) => {{
    const clip = {PLAYERS}[slot];
    if (!clip) return false;
    clip.currentTime = 0;
    clip.play();
    return true;
}}"""
ENDED = f"(slot) => {PLAYERS}[slot] && {PLAYERS}[slot].ended"
UNLOCKED = "() => [...document.querySelectorAll('input[type=radio]')].some(r => !r.disabled && r.offsetParent)"
CCR_CHOICES = ["+3 Much Better", "+2 Better", "+1 Slightly Better", "0 About the Same", "-1 Slightly Worse"]


@pytest.fixture(scope="module")
def ccr_app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[str]:
    """`python app.py` serving a CCR study of two pairs over 0.5 s clips on a free port."""
    tmp = tmp_path_factory.mktemp("ccr-session")
    fields = {
        "conditions": ["reference", "mixture", "sepformer"],
        "pairs": [["reference", "sepformer"], ["mixture", "sepformer"]],
        "trapping": 0,
        "gold": 0,
        "items_per_session": 2,
    }
    study = write_study(tmp, make_stimuli(tmp / "stimuli"), "ccr", **fields)
    with serve(tmp, study, tiny_models, tmp) as url:
        yield url


def hear(page, slot: int) -> None:
    """Play the visible player `slot` (0: A, 1: B) to its end."""
    assert page.evaluate(PLAY, slot), f"no player {slot} on the page"
    page.wait_for_function(ENDED, arg=slot, timeout=20_000)


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_a_ccr_session_asks_for_both_clips_then_the_seven_point_answer(ccr_app: str, browser, name, viewport) -> None:  # noqa: F811
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(30_000)
    page.goto(ccr_app)
    page.get_by_text("You will rate 2 pairs of clips, one pair per page, after 1 practice page").wait_for()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("heading", name=re.compile("Training page 1 of 1")).wait_for()
    page.get_by_text(messages.PLAY_BOTH_TO_UNLOCK).first.wait_for()  # the locked answers say why
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("alert").filter(has_text=messages.LISTEN_BOTH).wait_for()  # training cannot be skipped
    hear(page, 0)
    page.wait_for_timeout(1000)  # the server has had A's end: the answers stay locked without B
    assert not page.evaluate(UNLOCKED)
    hear(page, 1)
    page.wait_for_function(UNLOCKED, timeout=20_000)
    page.get_by_role("button", name="Save and continue").click()
    done = page.get_by_text("Your completion code is")
    for number in (1, 2):
        heading = page.get_by_role("heading", name=re.compile(f"^Page {number} of 2"))
        heading.wait_for()
        assert page.get_by_text(SCALE_QUESTIONS["ccr"]).is_visible()
        for label in ("A", "B"):
            assert page.get_by_text(label, exact=True).first.is_visible(), label
        radios = [page.get_by_role("radio", name=choice) for choice in CCR_CHOICES]
        assert all(r.count() == 1 and r.is_disabled() for r in radios)
        assert page.get_by_role("radio", name="-3 Much Worse").count() == 1
        hear(page, 1)
        hear(page, 0)
        page.wait_for_function(UNLOCKED, timeout=20_000)
        if number == 1:
            shot(page, f"30-ccr-page-{name}")
        if name == "desktop":  # the page fits the width: no horizontal scrolling
            assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        page.get_by_role("radio", name=CCR_CHOICES[number]).check()
        page.get_by_role("button", name="Save and continue").click()
        heading.wait_for(state="detached")
    done.wait_for()
    assert re.search(r"completion code is APP-[0-9A-F]{8}", done.inner_text())
    shot(page, f"31-ccr-done-{name}")
    page.context.close()


@pytest.fixture(scope="module")
def ab_app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[str]:
    """`python app.py` serving an A/B preference study with a 'no preference' answer."""
    tmp = tmp_path_factory.mktemp("ab-session")
    fields = {
        "conditions": ["reference", "mixture", "sepformer"],
        "pairs": [["mixture", "sepformer"]],
        "no_preference": True,
        "trapping": 0,
        "gold": 0,
        "training_items": 0,
        "items_per_session": 2,
    }
    study = write_study(tmp, make_stimuli(tmp / "stimuli"), "ab", **fields)
    with serve(tmp, study, tiny_models, tmp) as url:
        yield url


def test_an_ab_session_offers_a_b_and_no_preference_after_both_clips(ab_app: str, browser) -> None:  # noqa: F811
    page = browser.new_context(viewport=PHONE).new_page()
    page.set_default_timeout(30_000)
    page.goto(ab_app)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("button", name="Start").click()
    done = page.get_by_text("Your completion code is")
    for number, answer in ((1, "No preference"), (2, "B")):
        heading = page.get_by_role("heading", name=re.compile(f"^Page {number} of 2"))
        heading.wait_for()
        shot(page, f"32-ab-page{number}-phone")
        page.get_by_text(SCALE_QUESTIONS["pref"]).wait_for()
        radios = [page.get_by_role("radio", name=choice, exact=True) for choice in ("A", "B", "No preference")]
        assert all(r.count() == 1 and r.is_disabled() for r in radios)
        hear(page, 0)
        hear(page, 1)
        page.wait_for_function(UNLOCKED, timeout=20_000)
        page.get_by_text(messages.PLAY_BOTH_TO_UNLOCK).wait_for(state="hidden")  # no stale "play first" hint
        page.get_by_role("radio", name=answer, exact=True).check()
        page.get_by_role("button", name="Save and continue").click()
        heading.wait_for(state="detached")
    done.wait_for()
    page.context.close()
