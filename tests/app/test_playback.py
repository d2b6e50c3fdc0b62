"""The listening log: how long each clip played in each tab, from the players' events."""

from __future__ import annotations

from app.playback import ListenLog
from tests.support.app import Clock


def test_listen_log_adds_replays_and_accepts_pause_and_end_in_any_order() -> None:
    clock = Clock()
    log = ListenLog(clock)
    key = ("tab", "a1")
    log.end(key)
    assert log.heard(key) == (0.0, False, False)  # an end without a start proves nothing
    log.play(key)
    clock.now += 1.0
    log.end(key)
    log.pause(key)
    log.play(key)
    log.play(key)  # a repeated start event changes nothing
    clock.now += 0.5
    assert log.heard(key) == (1.5, True, True)
    assert log.heard(("tab", "a2")) == (0.0, False, False)
    assert log.completed_seconds(key) == 1.0  # the replay still running counts once it stops
    log.pause(key)
    assert log.completed_seconds(key) == 1.5
