"""P.808 qualification answers and the headphone check turn into exclusion reasons as documented."""

from __future__ import annotations

from listening_tests.headphones import CheckConfig
from listening_tests.qualification import (
    HEADPHONE_REASON,
    QUESTIONS,
    Qualification,
    exclusions,
    first_unanswered,
)

GOOD = {"device": "over_ear", "environment": "quiet", "hearing": "normal", "last_test": "never", "expert": "no"}


def test_every_question_must_be_answered_with_one_of_its_choices() -> None:
    assert first_unanswered(GOOD) is None
    assert first_unanswered({**GOOD, "hearing": None}).key == "hearing"
    assert first_unanswered({**GOOD, "device": "telepathy"}).key == "device"
    assert first_unanswered({}) is QUESTIONS[0]


def test_answers_and_the_headphone_check_exclude_as_p808_asks() -> None:
    check = CheckConfig(trials=6, pass_correct=5)
    assert exclusions(Qualification(GOOD, 5, 6), check, questions_exclude=True) == []
    assert exclusions(Qualification(GOOD, 4, 6), check, questions_exclude=True) == [HEADPHONE_REASON]
    noisy_speakers = Qualification({**GOOD, "device": "built_in", "environment": "noisy"}, 6, 6)
    assert exclusions(noisy_speakers, check, questions_exclude=True) == [
        "listened without headphones",
        "listened in a noisy place",
    ]
    assert exclusions(noisy_speakers, check, questions_exclude=False) == []  # recorded, not applied
    expert = Qualification({**GOOD, "expert": "yes", "last_test": "week"})
    assert exclusions(expert, None, questions_exclude=True) == []  # recorded for the analysis only
    assert exclusions(Qualification(GOOD, 2, 6), None, questions_exclude=True) == []  # no check asked
    assert exclusions(Qualification(GOOD), check, questions_exclude=True) == []  # joined before the check
    assert exclusions(None, check, questions_exclude=True) == []
