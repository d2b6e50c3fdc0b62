"""The study monitor's numbers on a store with a few sessions: one completed and kept, one completed that
fails three screening rules, one started without a rating."""

from __future__ import annotations

from pathlib import Path

from app import steps
from listening_tests.monitoring import RuleFailures, monitor_study, rule_failures
from tests.listening_tests.test_screening import mushra_listener
from tests.support.app import Clock, finish_acr_session, listen, make_services, run_training, start


def test_monitor_counts_sessions_votes_and_screening_failures(tmp_path: Path) -> None:
    clock = Clock()
    services = make_services(tmp_path, clock=clock)
    empty = monitor_study(services.store, services.study, services.stimuli)
    assert (empty.sessions_started, empty.sessions_finished, empty.raters, empty.failures) == (0, 0, 0, ())
    assert (empty.stimuli, empty.votes_max, empty.below_target, empty.target) == (12, 0, 12, 5)

    assert finish_acr_session(services, clock).stage == "done"  # traps and gold right, scores vary: kept
    visit, _ = start(services)  # the same answer everywhere: trap, gold and variance rules fail
    view = run_training(services, visit, clock)
    while view.stage == "page":
        listen(services, visit, clock)
        visit, view = steps.submit(services, visit, [3], [])
    assert view.stage == "done"
    start(services)  # a third rater who has only consented: a session started, nothing rated

    found = monitor_study(services.store, services.study, services.stimuli)
    assert (found.sessions_started, found.sessions_finished, found.raters) == (3, 2, 2)
    # 4 test clips per session, balanced: the second session rates 4 stimuli the first did not
    assert (found.votes_min, found.votes_median, found.votes_max) == (0, 1.0, 1)
    assert found.below_target == 12 and found.stimuli == 12
    assert set(found.failures) == {
        RuleFailures("failed a gold clip", 1, 1),
        RuleFailures("failed a trapping clip", 1, 1),
        RuleFailures("rating variance below 0.1", 1, 1),
    }


def test_rule_names_leave_out_each_listeners_figures() -> None:
    # two MUSHRA listeners fail the hidden-reference rule with different shares (29 % and 43 % of items)
    first = mushra_listener("r_1", [100, 80, 85, 100, 100, 100, 100], [60] * 7)
    second = mushra_listener("r_2", [100, 80, 85, 70, 100, 100, 100], [60] * 7)
    assert rule_failures(first + second) == (RuleFailures("hidden reference rated below 90", 2, 1),)
