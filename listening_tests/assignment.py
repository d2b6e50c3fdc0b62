"""Which stimuli a session rates, in which order, and the pages shown to the rater.

Balanced assignment: a new session gets the stimuli with the fewest votes so far (votes counted by the
store, sessions still running included), in an order seeded per rater, with the trapping and gold
clips at random positions. MUSHRA: one page per item with every condition, in a random order per
page, plus the open reference. P.835: the SIG/BAK order alternates across sessions. CCR and A/B: one page
per (item, pair) with the fewest votes, its two clips in an order drawn per page; the clip of condition b
takes the answer (kind `test`), the clip of condition a is the one it is compared against (kind `compared`).
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from listening_tests.conditions import MIXTURE, REFERENCE, anchors_by_cutoff, is_anchor
from listening_tests.pairs import study_pairs
from listening_tests.protocols import COMPARISON_PROTOCOLS

if TYPE_CHECKING:
    from listening_tests.stimuli import Stimulus, StimulusSet
    from listening_tests.study import Study

Key = tuple[str, str]  # (item_id, condition)
PairKey = tuple[str, str, str]  # (item_id, condition a, condition b)
COMPARED = "compared"  # the kind of a comparison page's clip that is compared against (it takes no answer)


@dataclass(frozen=True)
class PlannedTrial:
    """One stimulus to rate in a session: on page `page`, at position `slot` of that page."""

    page: int
    slot: int
    item_id: str
    condition: str
    kind: str = "test"  # test | trap | gold
    duration_s: float = 0.0
    expected_score: float | None = None
    tolerance: float | None = None


@dataclass(frozen=True)
class Clip:
    """One clip on a page, under a blind label (the condition is never shown)."""

    label: str
    path: Path
    duration_s: float
    assignment_id: int | None = None  # None on training pages (nothing is stored)
    rated: Mapping[str, float] = field(default_factory=dict)  # scale -> score already saved


@dataclass(frozen=True)
class Page:
    """What the rater sees: clips, the scales to answer (in order) and, for MUSHRA, the open reference."""

    session_id: str
    index: int  # 0-based page number
    total: int
    protocol: str
    scales: tuple[str, ...]
    clips: tuple[Clip, ...]
    reference: Path | None = None
    training: bool = False
    example: str = ""  # ACR/P.835 training: 'best' (the reference) or 'worst' (lowest anchor or mixture) end
    answered: int = 0  # the clip whose assignment takes the page's answers (CCR/A/B: condition b's clip)


def session_seed(rater_id: str, session_number: int) -> int:
    """A reproducible 31-bit seed per rater and session."""
    digest = hashlib.sha256(f"{rater_id}:{session_number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def scale_order(protocol: str, session_number: int, scales: Sequence[str]) -> tuple[str, ...]:
    """Scales in the order asked; P.835 swaps SIG and BAK on every other session (OVRL stays last)."""
    if protocol == "p835" and session_number % 2 == 1:
        return ("bak", "sig", "ovrl")
    return tuple(scales)


def plan_session(
    study: Study,
    stimuli: StimulusSet,
    conditions: Sequence[str],
    votes: Mapping[Key, int] | Mapping[PairKey, int],
    seed: int,
    seen: frozenset[Key] | frozenset[PairKey] = frozenset(),
) -> list[PlannedTrial]:
    """The trials of a new session; empty when every stimulus has its target number of votes.

    `votes` counts the votes per stimulus so far; `seen` holds the stimuli this rater already had.
    CCR and A/B count per (item, a, b) instead (`storage.sessions.pair_vote_counts`).
    """
    rng = random.Random(seed)
    if study.protocol == "mushra":
        return _plan_mushra(study, stimuli, conditions, votes, rng, seen)
    if study.protocol in COMPARISON_PROTOCOLS:
        return _plan_pairs(study, stimuli, conditions, votes, rng, seen)
    candidates = [
        key
        for key in stimuli.stimuli
        if key[1] in conditions and key not in seen and votes.get(key, 0) < study.votes_per_stimulus
    ]
    chosen = _fewest_votes(candidates, votes, study.items_per_session, rng)
    if not chosen:
        return []
    rng.shuffle(chosen)
    order: list[tuple[Key, str]] = [(key, "test") for key in chosen]
    for kind, count in (("trap", study.trapping), ("gold", study.gold)):
        pool = sorted(k for k, t in stimuli.trials.items() if t.kind == kind and k in stimuli.stimuli)
        for key in rng.sample(pool, min(count, len(pool))):
            order.insert(rng.randint(0, len(order)), (key, kind))
    return [_trial(stimuli, key, kind, page, 0) for page, (key, kind) in enumerate(order)]


def _plan_mushra(
    study: Study,
    stimuli: StimulusSet,
    conditions: Sequence[str],
    votes: Mapping[Key, int],
    rng: random.Random,
    seen: frozenset[Key],
) -> list[PlannedTrial]:
    item_votes = {
        item: min(votes.get((item, c), 0) for c in conditions)
        for item in stimuli.items
        if all((item, c) in stimuli.stimuli and (item, c) not in seen for c in conditions)
    }
    open_items = [item for item, n in item_votes.items() if n < study.votes_per_stimulus]
    chosen = _fewest_votes(open_items, item_votes, study.items_per_session, rng)
    rng.shuffle(chosen)
    trials = []
    for page, item in enumerate(chosen):
        order = list(conditions)
        rng.shuffle(order)
        trials += [_trial(stimuli, (item, c), "test", page, slot) for slot, c in enumerate(order)]
    return trials


def _plan_pairs(
    study: Study,
    stimuli: StimulusSet,
    conditions: Sequence[str],
    votes: Mapping[PairKey, int],
    rng: random.Random,
    seen: frozenset[PairKey],
) -> list[PlannedTrial]:
    """One page per (item, a, b) with the fewest votes; which clip plays first is drawn per page."""
    candidates = [
        (item, a, b)
        for item in stimuli.items
        for a, b in study_pairs(study.pairs, conditions)
        if (item, a) in stimuli.stimuli and (item, b) in stimuli.stimuli
        if (item, a, b) not in seen and votes.get((item, a, b), 0) < study.votes_per_stimulus
    ]
    chosen = _fewest_votes(candidates, votes, study.items_per_session, rng)
    rng.shuffle(chosen)
    trials = []
    for page, (item, a, b) in enumerate(chosen):
        played = [(a, COMPARED), (b, "test")]
        if rng.random() < 0.5:
            played.reverse()
        trials += [_trial(stimuli, (item, c), kind, page, slot) for slot, (c, kind) in enumerate(played)]
    return trials


def _fewest_votes(candidates: list, votes: Mapping, count: int, rng: random.Random) -> list:
    """`count` candidates with the fewest votes, ties broken at random."""
    shuffled = list(candidates)
    rng.shuffle(shuffled)
    shuffled.sort(key=lambda k: votes.get(k, 0))
    return shuffled[:count]


def _trial(stimuli: StimulusSet, key: Key, kind: str, page: int, slot: int) -> PlannedTrial:
    trial = stimuli.trials.get(key) if kind in ("trap", "gold") else None
    return PlannedTrial(
        page=page,
        slot=slot,
        item_id=key[0],
        condition=key[1],
        kind=kind,
        duration_s=stimuli.stimuli[key].duration_s,
        expected_score=trial.expected_score if trial else None,
        tolerance=trial.tolerance if trial else None,
    )


def blind_label(protocol: str, page: int, slot: int) -> str:
    """The label a clip is shown under: letters on a MUSHRA or comparison page (A heard first), else a number."""
    if protocol in ("mushra", *COMPARISON_PROTOCOLS):
        return string.ascii_uppercase[slot]
    return f"Clip {page + 1}"


def training_stimuli(study: Study, stimuli: StimulusSet, conditions: Sequence[str], seed: int) -> list[list[Stimulus]]:
    """Pages of the training part: clips that span the quality range (nothing is stored).

    ACR/P.835: per training item the reference and the most degraded anchor (or the mixture), in this
    order, as examples of the scale's ends (`training_example`), then one processed condition, one clip per
    page. MUSHRA: one full page per training item. CCR/A/B: one pair of the study per training item, its
    order drawn as on the rating pages.
    """
    rng = random.Random(seed)
    if study.protocol in COMPARISON_PROTOCOLS:
        return _training_pairs(study, stimuli, conditions, rng)
    items = [i for i in stimuli.items if (i, REFERENCE) in stimuli.stimuli]
    picked = rng.sample(items, min(study.training_items, len(items)))
    pages: list[list[Stimulus]] = []
    for item in picked:
        present = [c for c in conditions if (item, c) in stimuli.stimuli]
        if study.protocol == "mushra":
            rng.shuffle(present)
            pages.append([stimuli.stimuli[(item, c)] for c in present])
            continue
        pages += [[stimuli.stimuli[(item, c)]] for c in _range_spanning(present, rng)]
    return pages


def _training_pairs(
    study: Study, stimuli: StimulusSet, conditions: Sequence[str], rng: random.Random
) -> list[list[Stimulus]]:
    pairs = study_pairs(study.pairs, conditions)
    shown = [(i, p) for i in stimuli.items for p in pairs if all((i, c) in stimuli.stimuli for c in p)]
    pages = []
    for item, pair in rng.sample(shown, min(study.training_items, len(shown))):
        order = list(pair)
        rng.shuffle(order)
        pages.append([stimuli.stimuli[(item, c)] for c in order])
    return pages


def training_example(condition: str, conditions: Sequence[str]) -> str:
    """'best' for the reference, 'worst' for the lowest anchor (or, without anchors, the mixture), else ''."""
    if condition == REFERENCE:
        return "best"
    return "worst" if condition in _lowest(conditions) else ""


def _lowest(conditions: Sequence[str]) -> list[str]:
    return anchors_by_cutoff(conditions)[:1] or [c for c in conditions if c == MIXTURE]


def _range_spanning(conditions: Sequence[str], rng: random.Random) -> list[str]:
    worst = _lowest(conditions)
    others = [c for c in conditions if c != REFERENCE and c not in worst and not is_anchor(c)]
    return [c for c in (REFERENCE,) if c in conditions] + worst + rng.sample(others, min(1, len(others)))
