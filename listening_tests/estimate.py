"""How long a session of a study takes: its rating and training pages and an estimated duration.

Raters are told the number of trials and the time a session takes before they consent (the introduction
page). The duration is an estimate computed from the study and its built stimuli:
  per page = listening (every clip on the page played once, at its real duration; MUSHRA clips
             `MUSHRA_PLAYS` times, since raters switch between conditions and replay them)
           + answering (`ANSWER_S` per scale asked, per clip rated)
           + `PAGE_S` (saving the page and loading the next),
summed over the training and rating pages and rounded up to whole minutes. ANSWER_S and PAGE_S are
this project's own guesses, not figures from a standard: a duration measured in a pilot is better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from listening_tests.assignment import training_stimuli
from listening_tests.pairs import study_pairs
from listening_tests.protocols import COMPARISON_PROTOCOLS

if TYPE_CHECKING:
    from listening_tests.stimuli import StimulusSet
    from listening_tests.study import Study

ANSWER_S = 4.0  # reading one scale and choosing an answer
PAGE_S = 3.0  # saving a page and loading the next
MUSHRA_PLAYS = 2.0  # times a MUSHRA rater plays each clip (and the reference) while comparing


@dataclass(frozen=True)
class SessionEstimate:
    """The shape of one session and how long it takes (see the module docstring for the estimate)."""

    pages: (
        int  # rating pages (ACR/P.835: one clip each, trap and gold included; MUSHRA: one item each; CCR/A/B: a pair)
    )
    clips_per_page: int
    training_pages: int
    minutes: int


def estimate_session(study: Study, stimuli: StimulusSet, conditions: Sequence[str]) -> SessionEstimate:
    """The number of pages of a session of `study` over `stimuli` (shown `conditions`) and its duration."""
    shown = [s for s in stimuli.stimuli.values() if s.condition in conditions]
    clip_s = sum(s.duration_s for s in shown) / len(shown) if shown else 0.0
    answers = len(study.scales)
    if study.protocol == "mushra":
        complete = [i for i in stimuli.items if all((i, c) in stimuli.stimuli for c in conditions)]
        pages, per_page = min(study.items_per_session, len(complete)), len(conditions)
        page_s = (per_page + 1) * clip_s * MUSHRA_PLAYS + per_page * answers * ANSWER_S + PAGE_S
        seconds = pages * page_s
    elif study.protocol in COMPARISON_PROTOCOLS:  # both clips of a pair played once, one answer
        pairs = study_pairs(study.pairs, conditions)
        units = sum(all((i, c) in stimuli.stimuli for c in p) for i in stimuli.items for p in pairs)
        pages, per_page = min(study.items_per_session, units), 2
        seconds = pages * (per_page * clip_s + answers * ANSWER_S + PAGE_S)
    else:
        per_page = 1
        items = min(study.items_per_session, len(shown))
        controls = [
            stimuli.stimuli[key]
            for kind, count in (("trap", study.trapping), ("gold", study.gold))
            for key in sorted(k for k, t in stimuli.trials.items() if t.kind == kind and k in stimuli.stimuli)[:count]
        ]
        pages = items + len(controls)
        listening = items * clip_s + sum(s.duration_s for s in controls)
        seconds = listening + pages * (answers * ANSWER_S + PAGE_S)
    training = training_stimuli(study, stimuli, conditions, seed=0)
    mushra = study.protocol == "mushra"
    for page in training:  # MUSHRA: the open reference is played too
        listening = (sum(s.duration_s for s in page) + (clip_s if mushra else 0.0)) * (MUSHRA_PLAYS if mushra else 1.0)
        seconds += listening + len(page) * answers * ANSWER_S + PAGE_S
    return SessionEstimate(pages, per_page, len(training), max(1, math.ceil(seconds / 60)))
