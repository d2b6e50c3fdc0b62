"""The project's settings object: separation settings plus study, storage and web-app fields.

Environment variables: `LAB_<FIELD>` for the fields below (e.g. LAB_PORT, LAB_ADMIN_PASSWORD),
`DDPMSS_<FIELD>` for the separation fields inherited from `ddpmss.settings.Settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ddpmss.settings import PROJECT_DIR, Settings

EXAMPLE_STUDY = PROJECT_DIR / "studies" / "example.yaml"


def _default_data_dir() -> Path:
    # Hugging Face Spaces mounts persistent storage at /data when it is enabled.
    spaces_storage = Path("/data")
    if os.environ.get("SPACE_ID") and spaces_storage.is_dir() and os.access(spaces_storage, os.W_OK):
        return spaces_storage
    return PROJECT_DIR / "data"


@dataclass
class LabSettings(Settings):
    """All settings of the listening lab (one object for `ddpmss`, `listening_tests` and `app`)."""

    ENV_PREFIX = "LAB_"

    study: Path = EXAMPLE_STUDY
    data_dir: Path | None = None  # default: ./data, or /data on Spaces with persistent storage
    db_url: str | None = None  # default: SQLite file in data_dir; postgresql://... for replicas
    host: str = "127.0.0.1"
    port: int = 7860
    admin_password: str | None = None
    admin_users: str | None = None  # comma-separated HF user names allowed to see results on Spaces
    hf_dataset: str | None = None  # private dataset repo that receives ratings (needs HF_TOKEN)

    def __post_init__(self) -> None:
        if self.data_dir is None:
            self.data_dir = _default_data_dir()
        self.data_dir = Path(self.data_dir)
        if self.db_url is None:
            self.db_url = f"sqlite:///{self.data_dir / 'ratings.sqlite'}"
