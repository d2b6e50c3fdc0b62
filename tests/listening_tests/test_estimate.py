"""The session estimate shown on the introduction page: pages, training pages and minutes, from the study."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from listening_tests.estimate import ANSWER_S, MUSHRA_PLAYS, PAGE_S, estimate_session
from listening_tests.stimuli import load_stimulus_set
from listening_tests.study import check_conditions, load_study
from tests.support.app import make_stimuli, write_study

CLIP_S = 0.5  # every clip of tests.support.app.make_stimuli


def estimate(tmp_path: Path, protocol: str, **fields: object):
    manifest = make_stimuli(tmp_path / "stimuli", duration_s=CLIP_S)
    study = load_study(write_study(tmp_path, manifest, protocol, **fields))
    stimuli = load_stimulus_set(manifest)
    return estimate_session(study, stimuli, check_conditions(study, stimuli.conditions))


@pytest.mark.parametrize("protocol, scales", [("acr", 1), ("p835", 3)])
def test_acr_and_p835_count_one_clip_per_page_plus_trap_gold_and_the_range_spanning_training(
    tmp_path: Path, protocol: str, scales: int
) -> None:
    found = estimate(tmp_path, protocol)  # 4 test clips, 1 trap, 1 gold; training: reference, mixture, sepformer
    page_s = scales * ANSWER_S + PAGE_S
    seconds = 6 * CLIP_S + 6 * page_s + 3 * (CLIP_S + page_s)
    assert (found.pages, found.clips_per_page, found.training_pages) == (6, 1, 3)
    assert found.minutes == math.ceil(seconds / 60)


def test_mushra_counts_pages_of_every_condition_with_the_reference_played_too(tmp_path: Path) -> None:
    found = estimate(tmp_path, "mushra")  # 2 pages of 6 conditions, 1 training page
    page_s = 7 * CLIP_S * MUSHRA_PLAYS + 6 * ANSWER_S + PAGE_S
    assert (found.pages, found.clips_per_page, found.training_pages) == (2, 6, 1)
    assert found.minutes == math.ceil(3 * page_s / 60)


def test_a_longer_session_takes_longer_and_never_less_than_a_minute(tmp_path: Path) -> None:
    short = estimate(tmp_path / "short", "acr", items_per_session=1, trapping=0, gold=0, training_items=0)
    long = estimate(tmp_path / "long", "acr", items_per_session=12, training_items=2)
    assert (short.pages, short.training_pages, short.minutes) == (1, 0, 1)
    assert long.pages == 14 and long.minutes > short.minutes
