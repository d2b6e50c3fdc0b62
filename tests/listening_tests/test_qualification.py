"""P.808 qualification answers and the headphone check turn into exclusion reasons as documented."""

from __future__ import annotations

from listening_tests.headphones import CheckConfig
from listening_tests.protocols import ScreeningRules
from listening_tests.qualification import (
    HEADPHONE_REASON,
    QUESTIONS,
    BeforeTest,
    Qualification,
    exclusions,
    first_unanswered,
    parse_before_test,
)

GOOD = {"device": "over_ear", "environment": "quiet", "hearing": "normal", "last_test": "never", "expert": "no"}


def test_every_question_must_be_answered_with_one_of_its_choices() -> None:
    assert first_unanswered(GOOD) is None
    assert first_unanswered({**GOOD, "hearing": None}).key == "hearing"
    assert first_unanswered({**GOOD, "device": "telepathy"}).key == "device"
    assert first_unanswered({}) is QUESTIONS[0]


def test_answers_and_the_headphone_check_exclude_as_p808_asks() -> None:
    before = BeforeTest(questions=True, headphone_check=CheckConfig(trials=6, pass_correct=5))
    rules = ScreeningRules()
    assert exclusions(Qualification(GOOD, 5, 6), before, rules) == []
    assert exclusions(Qualification(GOOD, 4, 6), before, rules) == [HEADPHONE_REASON]
    assert exclusions(Qualification(GOOD, 4, 6), before, ScreeningRules(headphone_check_excludes=False)) == []
    noisy_speakers = Qualification({**GOOD, "device": "built_in", "environment": "noisy"}, 6, 6)
    assert exclusions(noisy_speakers, before, rules) == ["listened without headphones", "listened in a noisy place"]
    assert exclusions(noisy_speakers, before, ScreeningRules(questions_exclude=False)) == []  # recorded only
    expert = Qualification({**GOOD, "expert": "yes", "last_test": "week"})
    assert exclusions(expert, before, rules) == []  # recorded for the analysis only
    assert exclusions(Qualification(GOOD, 2, 6), BeforeTest(questions=True), rules) == []  # no check asked
    assert exclusions(Qualification(GOOD), before, rules) == []  # joined before the study added the check
    assert exclusions(None, before, rules) == []


def test_the_before_test_section_is_read_and_checked() -> None:
    problems: list[str] = []
    assert parse_before_test(None, problems) == BeforeTest() and not BeforeTest().asked
    section = {"questions": True, "headphone_check": True, "headphone_trials": 8, "headphone_pass": 7}
    read = parse_before_test(section, problems)
    assert read == BeforeTest(True, CheckConfig(8, 7)) and read.asked and problems == []
    parse_before_test({"headphone_check": "yes", "headphone_pass": 9, "volume": 3}, problems)
    assert problems == [
        "unknown field 'before_test.volume'",
        "before_test.headphone_check must be true or false (got 'yes')",
        "before_test.headphone_pass (9) cannot exceed headphone_trials (6)",
    ]
