"""What a crowd listener is asked before the test (ITU-T P.808's qualification), and which answers exclude.

P.808 asks a crowd worker about the listening device, hearing, experience with listening tests and
professional involvement with speech quality, and requires headphones in a quiet place (docs/standards.md).
The questions and their answers live here, in one place, as the P.808 toolkit keeps them in its
qualification template; `exclusions` turns a rater's answers and headphone-check result into reasons
that screening applies to every rating of that rater.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from listening_tests.headphones import CheckConfig


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: the stored key, the text and the (value, label) choices."""

    key: str
    text: str
    choices: tuple[tuple[str, str], ...]


QUESTIONS = (
    Question(
        "device",
        "What are you listening with right now?",
        (
            ("in_ear", "In-ear headphones (earbuds)"),
            ("over_ear", "Over-the-ear headphones"),
            ("loudspeakers", "External loudspeakers"),
            ("built_in", "The speakers of my laptop, tablet or phone"),
        ),
    ),
    Question(
        "environment",
        "How quiet is the place you are in?",
        (
            ("quiet", "Quiet: I notice no noise"),
            ("some_noise", "Some steady noise (a fan, distant traffic)"),
            ("noisy", "Noisy (people talking nearby, loud traffic)"),
        ),
    ),
    Question(
        "hearing",
        "Which describes your hearing best?",
        (
            ("normal", "I have normal hearing."),
            ("mild", "I find it hard to follow conversations in noisy places."),
            ("moderate", "I find it hard to follow conversations without a hearing aid."),
            ("severe", "I rely on lip-reading even with a hearing aid."),
        ),
    ),
    Question(
        "last_test",
        "When did you last take part in a listening test?",
        (
            ("week", "In the last 7 days"),
            ("month", "In the last month"),
            ("earlier", "More than a month ago"),
            ("never", "Never"),
        ),
    ),
    Question(
        "expert",
        "Do you work on speech or audio quality (speech coding, telephony, audio engineering)?",
        (("no", "No"), ("yes", "Yes")),
    ),
)
QUESTION_KEYS = tuple(q.key for q in QUESTIONS)

# Answers that exclude a rater (P.808: headphones, a quiet place, normal hearing). The last test and
# expertise are recorded for the analysis only: P.808 asks for them but leaves the decision to the study.
EXCLUDING = {
    "device": ("loudspeakers", "built_in"),
    "environment": ("noisy",),
    "hearing": ("mild", "moderate", "severe"),
}
EXCLUSION_REASONS = {
    "device": "listened without headphones",
    "environment": "listened in a noisy place",
    "hearing": "reported a hearing difficulty",
}
HEADPHONE_REASON = "failed the headphone check"


@dataclass(frozen=True)
class Qualification:
    """A rater's answers before the test: the questions and the headphone check (None where not asked)."""

    answers: Mapping[str, str]
    headphone_correct: int | None = None
    headphone_trials: int | None = None


def first_unanswered(answers: Mapping[str, str | None]) -> Question | None:
    """The first question without a valid answer, or None when every question is answered."""
    for question in QUESTIONS:
        if answers.get(question.key) not in {value for value, _ in question.choices}:
            return question
    return None


def exclusions(qualification: Qualification | None, check: CheckConfig | None, questions_exclude: bool) -> list[str]:
    """Why a rater's ratings are excluded by what they answered before the test (empty: kept).

    `check`: the study's headphone check (None: none asked); a rater who has no result of an asked check
    (e.g. joined before the study added it) is not excluded for it."""
    found = []
    if qualification is None:
        return found
    if check is not None and qualification.headphone_correct is not None:
        if qualification.headphone_correct < check.pass_correct:
            found.append(HEADPHONE_REASON)
    if questions_exclude:
        found += [
            EXCLUSION_REASONS[key] for key, values in EXCLUDING.items() if qualification.answers.get(key) in values
        ]
    return found
