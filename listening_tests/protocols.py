"""The listening-test protocols: scales, labels, texts and screening rules of the standards (docs/standards.md).

ACR and P.835 follow ITU-T P.800/P.808 (P.835 for separation: SIG, BAK, OVRL); MUSHRA follows ITU-R
BS.1534-3; CCR is the comparison category rating of ITU-T P.808 Annex E and `ab` a plain A/B preference
(both rate a pair of clips of one item, the second heard against the first). `demo` is the side-by-side
lab's quick 1-5 rating, stored like a protocol but never screened.
"""

from __future__ import annotations

from dataclasses import dataclass

PROTOCOLS = ("acr", "mushra", "p835", "ccr", "ab")
# The pairwise protocols: a trial is two clips of one item; the answer is the second heard against the first.
COMPARISON_PROTOCOLS = ("ccr", "ab")
SCALES = {"acr": ("ovrl",), "mushra": ("mushra",), "p835": ("sig", "bak", "ovrl"), "ccr": ("ccr",), "ab": ("pref",)}
SCORE_RANGE = {"acr": (1, 5), "mushra": (0, 100), "p835": (1, 5), "ccr": (-3, 3), "ab": (-1, 1)}
INTEGER_SCORES = {"acr": True, "mushra": False, "p835": True, "ccr": True, "ab": True}
MAX_MUSHRA_CONDITIONS = 12
DEMO_PROTOCOL = "demo"
# Every protocol a stored rating (and a row of ratings.csv) can carry: the studies' and the lab's demo ratings.
PROTOCOL_SCALES = {**SCALES, DEMO_PROTOCOL: ("ovrl",)}
PROTOCOL_RANGE = {**SCORE_RANGE, DEMO_PROTOCOL: (1, 5)}
PROTOCOL_INTEGER = {**INTEGER_SCORES, DEMO_PROTOCOL: True}

ACR_LABELS = {5: "Excellent", 4: "Good", 3: "Fair", 2: "Poor", 1: "Bad"}
SCALE_LABELS: dict[str, dict[int, str]] = {
    "ovrl": ACR_LABELS,
    "sig": {
        5: "Not distorted",
        4: "Slightly distorted",
        3: "Somewhat distorted",
        2: "Fairly distorted",
        1: "Very distorted",
    },
    "bak": {
        5: "Not noticeable",
        4: "Slightly noticeable",
        3: "Noticeable but not intrusive",
        2: "Somewhat intrusive",
        1: "Very intrusive",
    },
    # CCR (ITU-T P.808 Annex E): the quality of the second clip compared to the quality of the first.
    "ccr": {
        3: "Much Better",
        2: "Better",
        1: "Slightly Better",
        0: "About the Same",
        -1: "Slightly Worse",
        -2: "Worse",
        -3: "Much Worse",
    },
    # A/B preference: the clip preferred, stored as the second heard (B, +1) against the first (A, -1).
    "pref": {-1: "A", 1: "B", 0: "No preference"},
    # MUSHRA: the lower bound of each 20-point band of the continuous 0-100 scale.
    "mushra": {80: "Excellent", 60: "Good", 40: "Fair", 20: "Poor", 0: "Bad"},
}
SCALE_QUESTIONS = {
    "ovrl": "Overall quality: how good is this recording?",
    "sig": "Speech signal: how distorted does the target talker's voice sound?",
    "bak": "Background: how intrusive is everything that is not the target talker (the other talker included)?",
    "mushra": "Rate each clip against the reference (0-100).",
    "ccr": "The quality of the second clip (B) compared to the quality of the first clip (A) is:",
    "pref": "Which clip sounds better?",
}


@dataclass(frozen=True)
class ScreeningRules:
    """Screening thresholds; the defaults are ITU-T P.808's (ACR, P.835) and ITU-R BS.1534-3's (MUSHRA).

    A study's `screening:` section overrides any of them (see listening_tests.study).
    """

    min_variance: float = 0.1  # P.808: a session whose test ratings (OVRL) vary less is excluded
    listen_slack_s: float = 0.25  # a clip counts as played fully when listen_s >= duration - slack (jitter)
    trapping_excludes: bool = True  # P.808: a failed trapping clip excludes the session
    gold_excludes: bool = True  # P.808: a gold clip answered outside its tolerance excludes the session
    reference_min: float = 90.0  # BS.1534-3: the hidden reference rated below this ...
    anchor_max: float = 90.0  # ... or the mid anchor rated above this ...
    max_share: float = 0.15  # ... on more than this share of a listener's items excludes the listener
    headphone_check_excludes: bool = True  # a failed headphone check (before_test) excludes the rater
    questions_exclude: bool = True  # P.808: loudspeakers, a noisy place or a hearing difficulty excludes the rater


SWITCHING = ("keep", "restart")  # switching to another stimulus keeps the playback position, or restarts


@dataclass(frozen=True)
class MushraOptions:
    """How the MUSHRA panel plays and rates (a study's `mushra:` section; see listening_tests.study).

    The defaults follow BS.1534-3 and webMUSHRA: seamless switching at the same position, a loop region.
    """

    switching: str = "keep"  # keep: the new stimulus goes on at the same position; restart: from the loop start
    loop: bool = True  # playback loops over a region the rater can drag on the waveform
    exclusive_sliders: bool = False  # BS.1534-3 section 5.3: only the slider of the stimulus being heard moves


def default_consent(ask_participant_id: bool) -> str:
    """Consent text that says exactly what is stored."""
    extra = " and the participant id you type in" if ask_participant_id else ""
    return (
        "This is a listening test on the quality of separated speech. Taking part is voluntary and you "
        "can stop at any time. We store only your ratings, how long each clip played, the time of each "
        f"answer, a random pseudonymous rater id{extra}. We do not store your name, e-mail or IP "
        "address. The anonymised ratings may be published for research. Use headphones in a quiet room."
    )


DEFAULT_INSTRUCTIONS = {
    "acr": (
        "You will hear short recordings of one talker extracted from a mixture of two talkers. Listen to "
        "each clip to the end, then rate its overall quality from 5 (Excellent) to 1 (Bad). Some clips "
        "ask you to select a given answer: please do so."
    ),
    "p835": (
        "You will hear short recordings of one talker extracted from a mixture of two talkers. Listen to "
        "each clip to the end, then give three ratings: the speech signal alone (SIG: how distorted is the "
        "voice), the background (BAK: how intrusive is everything else, the other talker included) and "
        "the overall quality (OVRL)."
    ),
    "mushra": (
        "Each page has an open reference and several clips of the same talker. One clip is the hidden "
        "reference: give it 100. Rate every clip against the reference on the 0-100 scale; loop and "
        "switch between clips as often as you like."
    ),
    "ccr": (
        "Each page has two recordings of the same talker, A and B. Listen to both to the end, A first, then "
        "say how the quality of B (the second) compares to the quality of A (the first), from Much Better "
        "to Much Worse."
    ),
    "ab": (
        "Each page has two recordings of the same talker, A and B. Listen to both to the end, then choose "
        "the one that sounds better."
    ),
}
