"""The page before the test in headless Chromium: P.808's questions and the headphone check, at desktop and
phone widths. The test listens like a rater on headphones: it fetches each sound the page plays and picks
the tone of least energy in one ear; the server scores the picks against the rater's own trials."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import create_engine, select

from app import messages
from listening_tests.qualification import QUESTIONS
from listening_tests.storage.schema import qualifications, raters
from tests.browser.test_browser import DESKTOP, PHONE, serve, shot
from tests.browser.test_rater_pages import RETURN, browser, new_page  # noqa: F401 (fixture)
from tests.support.app import make_stimuli, write_study

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def checked_app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[dict]:
    """`python app.py` serving a crowdsourcing ACR study that asks the questions and the headphone check."""
    tmp = tmp_path_factory.mktemp("before-test")
    fields = {
        "ask_participant_id": True,
        "completion_url": RETURN,
        "items_per_session": 2,
        "before_test": {"questions": True, "headphone_check": True},
    }
    study = write_study(tmp, make_stimuli(tmp / "stimuli"), "acr", **fields)
    with serve(tmp, study, tiny_models, tmp) as url:
        yield {"url": url, "data": tmp / "data"}


def quietest_tones(page) -> list[int]:
    """For each sound on the page, in order: which of its three tones is the quietest in the left ear."""
    sources = page.evaluate("() => [...document.querySelectorAll('audio')].map(a => a.src).filter(Boolean)")
    picks = []
    for src in sources:
        audio, sr = sf.read(io.BytesIO(page.request.get(src).body()), always_2d=True)
        step, n = int(1.5 * sr), sr
        picks.append(int(np.argmin([np.sum(audio[k * step : k * step + n, 0] ** 2) for k in range(3)])))
    return picks


def choose(page, question: str, answer: str) -> None:
    """Tick `answer` in the group of radio buttons titled `question`."""
    page.locator("fieldset", has=page.get_by_text(question, exact=True)).get_by_label(answer, exact=True).check()


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_questions_and_the_headphone_check_come_before_the_instructions(checked_app: dict, browser, width) -> None:  # noqa: F811
    page = new_page(browser, DESKTOP if width == "desktop" else PHONE)
    page.goto(f"{checked_app['url']}/?PROLIFIC_PID=listener-{width}")
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="I agree and want to take part").click()
    page.get_by_role("heading", name=messages.BEFORE_TITLE).wait_for()
    for trial in range(1, 7):
        page.get_by_text(messages.check_label(trial)).wait_for()
    go_on = page.get_by_role("button", name="Continue to the instructions")
    go_on.click()  # nothing answered: refused with one sentence, the page stays
    page.get_by_role("alert").filter(has_text="Please answer every question").wait_for()
    shot(page, f"40-before-test-refused-{width}")
    answers = {"device": 1, "environment": 0, "hearing": 0, "last_test": 3, "expert": 0}  # over-ear, quiet, ...
    for question in QUESTIONS:
        label = question.choices[answers[question.key]][1]
        choose(page, question.text, label)
    picks = quietest_tones(page)
    assert len(picks) == 6
    for trial, pick in enumerate(picks, start=1):
        choose(page, messages.check_label(trial), messages.CHECK_CHOICES[pick][0])
    shot(page, f"41-before-test-answered-{width}")
    go_on.click()
    page.get_by_role("heading", name="Instructions").wait_for()
    assert not page.get_by_role("heading", name=messages.BEFORE_TITLE).is_visible()
    page.reload()  # answered once: a reload goes on to the instructions
    page.get_by_role("heading", name="Instructions").wait_for()
    page.context.close()
    engine = create_engine(f"sqlite:///{checked_app['data'] / 'ratings.sqlite'}")
    with engine.connect() as conn:
        correct = conn.execute(
            select(qualifications.c.headphone_correct)
            .join(raters, raters.c.id == qualifications.c.rater_id)
            .where(raters.c.participant_id == f"listener-{width}")
        ).scalar_one()
    engine.dispose()
    assert correct == 6  # scored on the server against the rater's own trials
