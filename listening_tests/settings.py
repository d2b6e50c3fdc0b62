"""The project's settings object: separation settings plus study, storage and web-app fields.

Environment variables: `LAB_<FIELD>` for the fields below (e.g. LAB_PORT, LAB_ADMIN_PASSWORD),
`DDPMSS_<FIELD>` for the separation fields inherited from `ddpmss.settings.Settings`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator

from ddpmss.settings import PROJECT_DIR, Settings

EXAMPLE_STUDY = PROJECT_DIR / "studies" / "example.yaml"


def _default_data_dir() -> Path:
    # Hugging Face Spaces mounts persistent storage at /data when it is enabled.
    spaces_storage = Path("/data")
    if os.environ.get("SPACE_ID") and spaces_storage.is_dir() and os.access(spaces_storage, os.W_OK):
        return spaces_storage
    return PROJECT_DIR / "data"


def _lab(name: str) -> str:
    """The environment variable of a lab field: LAB_<FIELD>."""
    return f"LAB_{name.upper()}"


class LabSettings(Settings):
    """All settings of the listening lab (one object for `ddpmss`, `listening_tests` and `app`)."""

    study: Path = Field(EXAMPLE_STUDY, validation_alias=_lab("study"))
    # default: ./data, or /data on Spaces with persistent storage
    data_dir: Path | None = Field(None, validation_alias=_lab("data_dir"))
    # default: SQLite file in data_dir; postgresql://... for replicas
    db_url: str | None = Field(None, validation_alias=_lab("db_url"))
    host: str = Field("127.0.0.1", validation_alias=_lab("host"))
    port: int = Field(7860, validation_alias=_lab("port"))
    admin_password: str | None = Field(None, validation_alias=_lab("admin_password"))
    # comma-separated HF user names allowed to see results on Spaces
    admin_users: str | None = Field(None, validation_alias=_lab("admin_users"))
    # private dataset repo that receives ratings (needs HF_TOKEN)
    hf_dataset: str | None = Field(None, validation_alias=_lab("hf_dataset"))
    # longest mixture the side-by-side lab accepts (the command line keeps DDPMSS_MAX_SECONDS)
    lab_max_seconds: float = Field(30.0, gt=0, validation_alias=_lab("max_seconds"))
    # lab runs kept on disk (their players, zips and the tabs' lists of earlier runs); older ones are deleted
    lab_keep_runs: int = Field(50, ge=1, validation_alias=_lab("keep_runs"))

    @model_validator(mode="after")
    def _default_storage(self) -> LabSettings:
        """Fill in the data folder and the SQLite URL inside it when they are not given."""
        if self.data_dir is None:
            self.data_dir = _default_data_dir()
        if self.db_url is None:
            self.db_url = f"sqlite:///{self.data_dir / 'ratings.sqlite'}"
        return self
