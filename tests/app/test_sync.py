"""Pushing ratings to a private HF dataset repo, with the Hub client patched (no network)."""

from __future__ import annotations

import csv
from pathlib import Path
from unittest import mock

import pytest

from app import hf_sync
from tests.support.app import Clock, finish_acr_session, make_services


def test_sync_is_off_without_token_or_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert hf_sync.start_sync(make_services(tmp_path / "a", hf_dataset="me/ratings")) is None
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert hf_sync.start_sync(make_services(tmp_path / "b")) is None


def test_scheduler_targets_the_private_dataset_and_exports_before_each_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    api = mock.MagicMock()
    api.create_repo.return_value.repo_id = "me/ratings"
    monkeypatch.setattr(hf_sync, "HfApi", mock.MagicMock(return_value=api))
    clock = Clock()
    services = make_services(tmp_path, clock=clock, hf_dataset="me/ratings")
    finish_acr_session(services, clock)
    scheduler = hf_sync.start_sync(services, every_min=60)
    try:
        assert scheduler.folder_path == (tmp_path / "data" / hf_sync.SYNC_FOLDER).resolve()
        api.create_repo.assert_called_once_with(repo_id="me/ratings", private=True, repo_type="dataset", exist_ok=True)
        hf_sync.HfApi.assert_called_once_with(token="hf_test")
        scheduler.push_to_hub()
        exported = scheduler.folder_path / services.study.id / "ratings.csv"
        with open(exported, newline="") as f:
            assert len(list(csv.DictReader(f))) == len(services.store.list_ratings()) == 6
        assert (scheduler.folder_path / services.study.id / "manifest.csv").is_file()
        commit = api.create_commit.call_args.kwargs
        assert commit["repo_id"] == "me/ratings" and commit["repo_type"] == "dataset"
        uploaded = sorted(op.path_in_repo for op in commit["operations"])
        assert uploaded == [f"{services.study.id}/manifest.csv", f"{services.study.id}/ratings.csv"]
        written = exported.stat().st_mtime_ns
        scheduler.push_to_hub()  # nothing new: the export is not rewritten, so nothing is committed
        assert exported.stat().st_mtime_ns == written and api.create_commit.call_count == 1
        assert sorted(p.name for p in exported.parent.iterdir()) == ["manifest.csv", "ratings.csv"]
    finally:
        scheduler.stop()
