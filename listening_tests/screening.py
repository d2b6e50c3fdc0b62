"""Which ratings to leave out of the analysis, and why (computed at export time; nothing is deleted).

ACR and P.835 (ITU-T P.808), per session: a failed trapping clip, a failed gold clip (+-tolerance),
a rating variance below 0.1, a clip not played to the end, or a session left unfinished excludes every
rating of that session. Trapping and gold ratings themselves are always excluded (quality control).
MUSHRA (ITU-R BS.1534-3 post-screening), per listener: the hidden reference rated below 90 on more than
15 % of items, or the mid anchor rated above 90 on more than 15 % of items.
Every protocol: a rater whose answers before the test exclude them (a failed headphone check; loudspeakers,
a noisy place or a hearing difficulty in P.808's questions; listening_tests.qualification) has every rating
excluded. The side-by-side lab's quick ratings (protocol `demo`) are never screened.
The numbers are the defaults of `ScreeningRules`; each record carries its study's rules (the study
file's `screening:` section), unless a caller passes one set of rules for all. See docs/standards.md.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from listening_tests.conditions import REFERENCE, mid_anchor
from listening_tests.protocols import DEMO_PROTOCOL, ScreeningRules
from listening_tests.storage.records import RatingRecord

CONTROL_REASON = "control clip (trapping or gold), not a stimulus"
DEFAULT_RULES = ScreeningRules()


@dataclass(frozen=True)
class RaterStatus:
    """The screening outcome of one rater; `reasons` leaves out the control clips' own exclusion."""

    rater_id: str
    sessions: int
    ratings: int
    excluded: int
    reasons: str

    @property
    def status(self) -> str:
        """kept, excluded or partly excluded."""
        if not self.reasons:
            return "kept"
        return "excluded" if self.excluded == self.ratings else "partly excluded"


def screen(records: Sequence[RatingRecord], rules: ScreeningRules | None = None) -> dict[int, str]:
    """Exclusion reasons per rating id ('' when the rating is kept); `rules` replaces every study's own."""
    return {rid: "; ".join(rs) for rid, rs in _reasons(records, rules).items()}


def rater_status(records: Sequence[RatingRecord], rules: ScreeningRules | None = None) -> list[RaterStatus]:
    """One status per rater, in order of their first rating (demo ratings aside)."""
    reasons = _reasons(records, rules)
    by_rater: dict[str, list[RatingRecord]] = defaultdict(list)
    for r in records:
        if r.protocol != DEMO_PROTOCOL:
            by_rater[r.rater_id].append(r)
    statuses = []
    for rater, own in by_rater.items():
        found = {reason for r in own for reason in reasons[r.rating_id] if reason != CONTROL_REASON}
        statuses.append(
            RaterStatus(
                rater_id=rater,
                sessions=len({r.session_id for r in own}),
                ratings=len(own),
                excluded=sum(bool(reasons[r.rating_id]) for r in own),
                reasons="; ".join(sorted(found)),
            )
        )
    return statuses


def _reasons(records: Sequence[RatingRecord], rules: ScreeningRules | None) -> dict[int, list[str]]:
    """Distinct exclusion reasons per rating id, in the order found."""
    reasons: dict[int, list[str]] = {r.rating_id: [] for r in records}
    by_session: dict[str, list[RatingRecord]] = defaultdict(list)
    by_rater: dict[tuple[str, str], list[RatingRecord]] = defaultdict(list)
    for r in records:
        if r.protocol == DEMO_PROTOCOL:
            continue
        reasons[r.rating_id] += r.qualification_reasons  # before the test: the headphone check, P.808's questions
        if r.protocol == "mushra":
            by_rater[(r.study_id, r.rater_id)].append(r)
        else:
            by_session[r.session_id].append(r)
            if r.kind != "test":
                reasons[r.rating_id].append(CONTROL_REASON)
    for group in by_session.values():
        _add(reasons, group, p808_reasons(group, rules or group[0].screening))
    mid = _mid_anchors(records)
    for (study_id, _), group in by_rater.items():
        _add(reasons, group, mushra_reasons(group, rules or group[0].screening, mid.get(study_id)))
    return {rid: list(dict.fromkeys(rs)) for rid, rs in reasons.items()}


def p808_reasons(session: Sequence[RatingRecord], rules: ScreeningRules = DEFAULT_RULES) -> list[str]:
    """Why one ACR/P.835 session is rejected (empty when it passes)."""
    found = []
    if not all(r.session_finished for r in session):
        found.append("session not finished")
    if rules.trapping_excludes and any(_missed(r) for r in session if r.kind == "trap"):  # on every scale asked
        found.append("failed a trapping clip")
    if rules.gold_excludes and any(_missed(r) for r in session if r.kind == "gold" and r.scale == "ovrl"):
        found.append("failed a gold clip")
    scores = [r.score for r in session if r.kind == "test" and r.scale == "ovrl"]
    if len(scores) >= 2 and statistics.variance(scores) < rules.min_variance:  # sample variance, as P.808's toolkit
        found.append(f"rating variance below {rules.min_variance:g}")
    if any(r.listen_s < r.duration_s - rules.listen_slack_s for r in session):
        found.append("not every clip was played to the end")
    return found


def mushra_reasons(
    listener: Sequence[RatingRecord], rules: ScreeningRules = DEFAULT_RULES, mid_anchor: str | None = None
) -> list[str]:
    """Why one MUSHRA listener is excluded (BS.1534-3 post-screening; empty when they pass)."""
    found = []
    share = _share(listener, REFERENCE, lambda s: s < rules.reference_min)
    if share > rules.max_share:
        found.append(
            f"hidden reference rated below {rules.reference_min:g} on {share:.0%} of items "
            f"(more than {rules.max_share:.0%})"
        )
    if mid_anchor is not None:
        share = _share(listener, mid_anchor, lambda s: s > rules.anchor_max)
        if share > rules.max_share:
            found.append(
                f"mid anchor ({mid_anchor}) rated above {rules.anchor_max:g} on {share:.0%} of items "
                f"(more than {rules.max_share:.0%})"
            )
    return found


def _missed(r: RatingRecord) -> bool:
    return r.expected_score is not None and abs(r.score - r.expected_score) > (r.tolerance or 0.0)


def _share(listener: Sequence[RatingRecord], condition: str, fails: Callable[[float], bool]) -> float:
    scores = [r.score for r in listener if r.condition == condition]
    return sum(fails(s) for s in scores) / len(scores) if scores else 0.0


def _mid_anchors(records: Iterable[RatingRecord]) -> dict[str, str]:
    """The mid anchor of each MUSHRA study that has one (see listening_tests.conditions.mid_anchor)."""
    present: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.protocol == "mushra":
            present[r.study_id].add(r.condition)
    found = {study: mid_anchor(conditions) for study, conditions in present.items()}
    return {study: anchor for study, anchor in found.items() if anchor is not None}


def _add(reasons: dict[int, list[str]], group: Sequence[RatingRecord], found: list[str]) -> None:
    for r in group:
        reasons[r.rating_id] += found
