"""How a running study is doing, for its researcher: sessions, votes per stimulus against the target, and
how many raters and sessions each screening rule leaves out so far.

The counts come from the store (`Store.study_counts`, SQL in storage/ only) and the screening from
`listening_tests.screening`, exactly as the export applies it, so the monitor and ratings.csv agree.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from listening_tests.screening import CONTROL_REASON, screen
from listening_tests.study import check_conditions

if TYPE_CHECKING:
    from listening_tests.stimuli import StimulusSet
    from listening_tests.storage import RatingRecord, Store
    from listening_tests.study import Study


@dataclass(frozen=True)
class RuleFailures:
    """One screening rule and how many raters and sessions it excludes (some or all of their ratings)."""

    rule: str
    raters: int
    sessions: int


@dataclass(frozen=True)
class StudyMonitor:
    """A study's state while it runs."""

    study_id: str
    sessions_started: int
    sessions_finished: int
    target: int  # votes_per_stimulus of the study file
    stimuli: int  # stimuli that are to be rated (the study's conditions over every item)
    votes_min: int
    votes_median: float
    votes_max: int
    below_target: int  # stimuli with fewer votes than the target
    raters: int  # raters with at least one rating
    failures: tuple[RuleFailures, ...]


def monitor_study(store: Store, study: Study, stimuli: StimulusSet) -> StudyMonitor:
    """The monitor of one study: counts from the store, screening as the export applies it."""
    counts = store.study_counts(study.id)
    conditions = check_conditions(study, stimuli.conditions)
    keys = [key for key in stimuli.stimuli if key[1] in conditions]
    votes = [counts.votes.get(key, 0) for key in keys] or [0]
    records = store.list_ratings(study.id)
    return StudyMonitor(
        study_id=study.id,
        sessions_started=counts.sessions_started,
        sessions_finished=counts.sessions_finished,
        target=study.votes_per_stimulus,
        stimuli=len(keys),
        votes_min=min(votes),
        votes_median=float(statistics.median(votes)),
        votes_max=max(votes),
        below_target=sum(n < study.votes_per_stimulus for n in votes) if keys else 0,
        raters=len({r.rater_id for r in records}),
        failures=rule_failures(records),
    )


def rule_failures(records: Sequence[RatingRecord]) -> tuple[RuleFailures, ...]:
    """Raters and sessions failing each screening rule, most raters first.

    A rule is named by its reason up to the listener's own figures (a MUSHRA reason's " on 40% of items ..."),
    so every listener failing it counts under one name.
    """
    reasons = screen(records)
    raters: dict[str, set[str]] = defaultdict(set)
    sessions: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for reason in filter(None, reasons.get(record.rating_id, "").split("; ")):
            if reason == CONTROL_REASON:
                continue
            rule = reason.split(" on ")[0]
            raters[rule].add(record.rater_id)
            sessions[rule].add(record.session_id)
    found = [RuleFailures(rule, len(raters[rule]), len(sessions[rule])) for rule in raters]
    return tuple(sorted(found, key=lambda f: (-f.raters, f.rule)))
