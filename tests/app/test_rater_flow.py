"""The rater's path around the rating pages, without a browser: introduction, training, locked choices,
crowdsourcing (participant link, completion link, quota)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import messages, steps
from tests.support.app import Clock, make_services


@pytest.fixture()
def clock() -> Clock:
    return Clock()


def test_a_new_visitor_reads_the_introduction_with_trials_and_duration_before_consent(
    tmp_path: Path, clock: Clock
) -> None:
    services = make_services(tmp_path, clock=clock, study_fields={"purpose": "We compare two separators."})
    visit, view, stored = steps.open_visit(services, None, {})
    assert view.stage == "intro" and stored == {}
    assert "We compare two separators." in view.text
    assert "6 clips, one per page, after 3 practice pages" in view.text and "about 2 minutes" in view.text
    visit, view = steps.introduced(services, visit)
    assert view.stage == "consent" and services.store.study_ids() == ["app-acr"]
    assert services.store.list_ratings() == []  # reading the introduction creates nothing


def test_the_introduction_of_a_mushra_study_counts_pages_and_uses_the_default_purpose(
    tmp_path: Path, clock: Clock
) -> None:
    services = make_services(tmp_path, "mushra", clock=clock)
    _, view, _ = steps.open_visit(services, None, {})
    assert messages.PURPOSE in view.text and "2 pages of 6 clips each, after 1 practice page" in view.text
