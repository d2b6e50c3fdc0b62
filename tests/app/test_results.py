"""Results tab without a browser: who may see results, and what is computed from the store."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.results import Access, admin_access, authorize, compute_results, screening_table
from listening_tests.screening import RaterStatus
from tests.support.app import Clock, finish_acr_session, make_services


class Profile:
    """Stands in for gr.OAuthProfile (only `username` is read)."""

    def __init__(self, username: str) -> None:
        self.username = username


def test_access_modes_follow_host_and_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert admin_access(make_services(tmp_path / "a")).mode == "open"  # loopback, no password
    assert admin_access(make_services(tmp_path / "b", host="0.0.0.0")).mode == "off"
    assert admin_access(make_services(tmp_path / "c", host="0.0.0.0", admin_users="alice")).mode == "off"  # not Spaces
    protected = admin_access(make_services(tmp_path / "d", host="0.0.0.0", admin_password="s3cret"))
    assert protected == Access("protected", "s3cret")
    monkeypatch.setenv("SPACE_ID", "me/lab")
    spaces = admin_access(make_services(tmp_path / "e", host="0.0.0.0", admin_users="alice, bob"))
    assert spaces.mode == "protected" and spaces.oauth and spaces.users == {"alice", "bob"}


def test_authorize_checks_password_or_allowed_user() -> None:
    access = Access("protected", "s3cret", frozenset({"alice"}))
    authorize(access, "s3cret")
    authorize(access, None, Profile("alice"))
    for password, profile in ((None, None), ("", None), ("S3CRET", None), ("wrong", Profile("mallory"))):
        with pytest.raises(PermissionError):
            authorize(access, password, profile)
    with pytest.raises(PermissionError):
        authorize(Access("off"), "anything")
    authorize(Access("open"), None)


def test_results_export_screening_and_report(tmp_path: Path) -> None:
    clock = Clock()
    services = make_services(tmp_path, clock=clock, study_fields={"votes_per_stimulus": 10})
    empty = compute_results(services, n_boot=50)
    assert empty.message.startswith("No ratings yet") and [p.name for p in empty.files] == [
        "ratings.csv",
        "manifest.csv",
    ]
    submitted: list[tuple[str, int]] = []
    for other in (4, 5, 3):
        assert finish_acr_session(services, clock, other, submitted).stage == "done"
    services.store.save_demo_rating(
        run_id="run1", item_id="lab-run1_s1", condition="sepformer", score=2, submission_key="demo.run1.0.1.2"
    )
    found = compute_results(services, n_boot=50)
    with open(next(p for p in found.files if p.name == "ratings.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert (
        len(rows) == len(services.store.list_ratings(services.study.id)) == 18
    )  # the services's demo ratings stay out
    assert "3 raters" in found.message
    shown = found.summary.set_index("condition")
    assert set(shown.index) == {"reference", "mixture", "sepformer"}  # trap and gold clips stay out
    for condition in shown.index:  # the shown means are those of the scores the raters submitted
        scores = [score for c, score in submitted if c == condition]
        assert shown.loc[condition, "n_ratings"] == len(scores)
        assert shown.loc[condition, "mean"] == pytest.approx(sum(scores) / len(scores))
    assert len(set(shown["mean"])) > 1  # the answers differ by condition, so a mix-up would show
    assert len(found.screening) == 3 and set(found.screening["status"]) == {"kept"}
    assert not found.correlations.empty and found.plots
    # the study asks for 10 votes per stimulus; 3 raters cannot give them, and the tab says so
    assert any("have fewer than 10 retained votes" in finding for finding in found.findings)
    assert {"report.html", "report.md", "summary.csv", "correlations.csv"} <= {p.name for p in found.files}


def test_screening_table_formats_the_engine_status() -> None:
    statuses = [
        RaterStatus("a", sessions=1, ratings=8, excluded=2, reasons=""),
        RaterStatus("b", sessions=2, ratings=16, excluded=8, reasons="failed a trapping clip"),
    ]
    table = screening_table(statuses)
    assert list(table.columns) == ["rater_id", "sessions", "ratings", "excluded_ratings", "status", "reasons"]
    assert table.values.tolist() == [
        ["a", 1, 8, 2, "kept", ""],
        ["b", 2, 16, 8, "partly excluded", "failed a trapping clip"],
    ]
    assert screening_table([]).empty
