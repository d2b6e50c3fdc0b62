"""The MUSHRA panel's server side without a browser: the trial it is given, and the answers and listening
reports it sends (untouched sliders, unplayed conditions, stale pages, per-switch listening time)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import messages, steps
from app.mushra import PanelAnswer, panel_spec, read_answer
from listening_tests.protocols import MushraOptions
from tests.support.app import Clock, listen, make_services, start


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def first_rating_page(tmp_path: Path, clock: Clock):
    """A MUSHRA session past its training page: (services, visit, view of the first rating page)."""
    services = make_services(tmp_path, "mushra", clock=clock)
    visit, _ = start(services)
    visit, view = steps.begin(services, visit)
    for slot in range(len(view.clips)):
        listen(services, visit, clock, slot, seconds=0.2)
    visit, view = steps.submit_panel(services, visit, {"page": view.page_key, "scores": [50] * len(view.clips)})
    assert view.stage == "page" and not view.training
    return services, visit, view


def test_the_panel_gets_the_open_reference_first_then_the_blind_conditions_and_its_texts() -> None:
    options = MushraOptions(switching="restart", loop=False, exclusive_sliders=True)
    spec = panel_spec("page-0", "/r.wav", [("A", "/a.wav"), ("B", "/b.wav")], options)
    assert [(s["label"], s["slot"]) for s in spec["stimuli"]] == [("Reference", -1), ("A", 0), ("B", 1)]
    assert spec["options"] == {"switching": "restart", "loop": False, "exclusiveSliders": True}
    assert spec["bands"] == ["Excellent", "Good", "Fair", "Poor", "Bad"] and spec["texts"] is messages.MUSHRA_PANEL


@pytest.mark.parametrize(
    "data",
    [None, [], {"page": "page-0"}, {"page": 3, "scores": [1, 2]}, {"page": "page-0", "scores": [1]}]
    + [{"page": "page-0", "scores": [1, bad]} for bad in (101, -1, "50", True, float("nan"))],
)
def test_a_malformed_answer_is_not_read(data: object) -> None:
    assert read_answer(data, 2) is None


def test_an_answer_keeps_untouched_sliders_apart_from_zero() -> None:
    assert read_answer({"page": "page-1", "scores": [0, None, 100]}, 3) == PanelAnswer("page-1", (0.0, None, 100.0))


def test_an_untouched_slider_refuses_the_page_with_one_sentence_naming_it(tmp_path: Path, clock: Clock) -> None:
    services, visit, view = first_rating_page(tmp_path, clock)
    for slot in range(len(view.clips)):
        listen(services, visit, clock, slot, seconds=0.2)
    scores = [0, 10, None, 30, None, 50]
    visit, refused = steps.submit_panel(services, visit, {"page": view.page_key, "scores": scores})
    assert refused.stage == "notice"
    assert refused.notice == messages.untouched_sliders([view.clips[2].label, view.clips[4].label])
    assert services.store.list_ratings() == []
    scores = [0, 10, 20, 30, 40, 50]  # 0 counts once it was set
    visit, saved = steps.submit_panel(services, visit, {"page": view.page_key, "scores": scores})
    assert saved.stage == "page" and sorted(r.score for r in services.store.list_ratings()) == scores


def test_a_condition_never_heard_refuses_the_page_before_its_slider(tmp_path: Path, clock: Clock) -> None:
    services, visit, view = first_rating_page(tmp_path, clock)
    for slot in range(len(view.clips) - 1):
        listen(services, visit, clock, slot, seconds=0.2)
    visit, refused = steps.submit_panel(services, visit, {"page": view.page_key, "scores": [None] * len(view.clips)})
    assert refused.notice == messages.play_every_clip([view.clips[-1].label])


def test_an_answer_for_another_page_is_not_saved_on_the_one_on_screen(tmp_path: Path, clock: Clock) -> None:
    services, visit, view = first_rating_page(tmp_path, clock)
    for slot in range(len(view.clips)):
        listen(services, visit, clock, slot, seconds=0.2)
    visit, stale = steps.submit_panel(services, visit, {"page": "training-0", "scores": [50] * len(view.clips)})
    assert stale.stage == "notice" and stale.notice == "" and services.store.list_ratings() == []
    visit, broken = steps.submit_panel(services, visit, {"page": view.page_key, "scores": "all fifty"})
    assert broken.notice == messages.RELOAD


def test_switching_counts_each_condition_only_while_it_is_heard(tmp_path: Path, clock: Clock) -> None:
    services, visit, view = first_rating_page(tmp_path, clock)
    steps.switched(services, visit, -1, -1)  # the reference plays: no condition is heard
    clock.now += 1.0
    steps.switched(services, visit, -1, 0)  # reference -> A
    clock.now += 0.4
    steps.switched(services, visit, 0, 1)  # A -> B at the same position
    clock.now += 0.3
    steps.switched(services, visit, 1, -1)  # pause
    clock.now += 5.0
    for slot in range(2, len(view.clips)):
        steps.switched(services, visit, -1, slot)
        clock.now += 0.1
        steps.switched(services, visit, slot, -1)
    visit, _ = steps.submit_panel(services, visit, {"page": view.page_key, "scores": [60] * len(view.clips)})
    listened = sorted(r.listen_s for r in services.store.list_ratings())
    assert listened == pytest.approx([0.1] * (len(view.clips) - 2) + [0.3, 0.4])
