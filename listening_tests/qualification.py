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
from listening_tests.protocols import ScreeningRules
from listening_tests.yaml_fields import FieldReader, unknown_keys


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


@dataclass(frozen=True)
class BeforeTest:
    """A study's `before_test` section: what a rater does after consenting and before the instructions."""

    questions: bool = False  # P.808's questions on device, place, hearing, last test and expertise
    headphone_check: CheckConfig | None = None  # the antiphase check (None: not asked)

    @property
    def asked(self) -> bool:
        """Whether a rater has anything to do before the test."""
        return self.questions or self.headphone_check is not None


def parse_before_test(section: object, problems: list[str]) -> BeforeTest:
    """The `before_test` section (absent: nothing before the test); wrong values add problems."""
    if section is None:
        return BeforeTest()
    if not isinstance(section, dict):
        problems.append("before_test must be a mapping (questions, headphone_check, headphone_trials, headphone_pass)")
        return BeforeTest()
    keys = ("questions", "headphone_check", "headphone_trials", "headphone_pass")
    unknown_keys(section, keys, "before_test.", problems)
    get = FieldReader(section, "before_test.", problems)
    defaults = CheckConfig()
    questions = get.boolean("questions", False)
    checked = get.boolean("headphone_check", False)
    trials = get.integer("headphone_trials", defaults.trials, 3, 24)
    needed = get.integer("headphone_pass", defaults.pass_correct, 1, 24)
    if needed > trials:
        problems.append(f"before_test.headphone_pass ({needed}) cannot exceed headphone_trials ({trials})")
    return BeforeTest(questions, CheckConfig(trials, min(needed, trials)) if checked else None)


def exclusions(qualification: Qualification | None, before: BeforeTest, rules: ScreeningRules) -> list[str]:
    """Why a rater's ratings are excluded by what they answered before the test (empty: kept).

    A rater with no result of a check the study asks for (e.g. one who joined before the study added it)
    is not excluded for it; the app asks every new rater before the test."""
    found: list[str] = []
    if qualification is None:
        return found
    check = before.headphone_check
    if rules.headphone_check_excludes and check is not None and qualification.headphone_correct is not None:
        if qualification.headphone_correct < check.pass_correct:
            found.append(HEADPHONE_REASON)
    if rules.questions_exclude:
        found += [
            EXCLUSION_REASONS[key] for key, values in EXCLUDING.items() if qualification.answers.get(key) in values
        ]
    return found
