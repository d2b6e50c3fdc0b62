"""Optional push of the ratings to a private Hugging Face dataset repo (for Spaces without a database).

Enabled when both `LabSettings.hf_dataset` (env LAB_HF_DATASET, e.g. "me/my-study-ratings") and the
HF_TOKEN environment variable are set. A huggingface_hub `CommitScheduler` watches
`<data_dir>/hf-sync/` and commits what changed every `SYNC_EVERY_MIN` minutes (and once at exit);
just before each commit the scheduler writes `<study_id>/ratings.csv` (screening applied, the same
file as `python -m listening_tests export`) and `<study_id>/manifest.csv` into that folder, under
the scheduler's lock so a commit never sees a half-written file. The repo is created private.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from huggingface_hub import CommitScheduler, HfApi

from app.services import Services
from listening_tests.export import export_ratings

SYNC_EVERY_MIN = 5.0
SYNC_FOLDER = "hf-sync"


class RatingsScheduler(CommitScheduler):
    """A CommitScheduler that exports the study's ratings into its folder before every commit."""

    def __init__(self, services: Services, **kwargs: object) -> None:
        self.services = services
        super().__init__(**kwargs)

    def write_exports(self) -> Path:
        """Write `<study_id>/ratings.csv` and `manifest.csv` into the watched folder; returns that subfolder.

        A file whose content did not change is left untouched, so the scheduler has nothing to commit.
        """
        study = self.services.study
        target = self.folder_path / study.id
        target.mkdir(parents=True, exist_ok=True)
        export_ratings(self.services.store, target / "ratings.csv.new", study_id=study.id)
        _replace_if_changed(target / "ratings.csv.new", target / "ratings.csv")
        shutil.copyfile(study.manifest, target / "manifest.csv.new")
        _replace_if_changed(target / "manifest.csv.new", target / "manifest.csv")
        return target

    def push_to_hub(self) -> object:
        """Export, then let CommitScheduler upload what changed."""
        with self.lock:
            self.write_exports()
        return super().push_to_hub()


def _replace_if_changed(new: Path, target: Path) -> None:
    if target.is_file() and target.read_bytes() == new.read_bytes():
        new.unlink()
    else:
        os.replace(new, target)


def start_sync(services: Services, every_min: float = SYNC_EVERY_MIN) -> RatingsScheduler | None:
    """Start pushing ratings to the private dataset repo, or return None when it is not configured."""
    token = os.environ.get("HF_TOKEN")
    repo = services.settings.hf_dataset
    if not token or not repo or services.study is None or services.study_problem:
        return None
    return RatingsScheduler(
        services,
        repo_id=repo,
        repo_type="dataset",
        folder_path=Path(services.settings.data_dir) / SYNC_FOLDER,
        every=every_min,
        private=True,
        token=token,
        hf_api=HfApi(token=token),
        allow_patterns=["*.csv"],
    )
