"""The admin-only results tab: who may see it, and what it shows (computed by listening_tests).

Access: with `admin_password` set, every results callback checks the password on the server; on
Hugging Face Spaces a signed-in user listed in `admin_users` may also see them. Without either, results
are served only when the app listens on a loopback address; otherwise the tab is not built at all.
"""

from __future__ import annotations

import hmac
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from listening_tests.export import rating_rows, write_ratings_csv
from listening_tests.report import analyze
from listening_tests.screening import RaterStatus, rater_status

if TYPE_CHECKING:
    from app.context import Lab

DENIED = "Results are for the study's administrators: enter the admin password (or sign in with an allowed account)."
SCREENING_COLUMNS = ["rater_id", "sessions", "ratings", "excluded_ratings", "status", "reasons"]


@dataclass(frozen=True)
class Access:
    """How the results tab is protected: mode is off (not built), open (loopback only) or protected."""

    mode: str
    password: str | None = None
    users: frozenset[str] = frozenset()

    @property
    def oauth(self) -> bool:
        """True when Hugging Face sign-in can grant access (on Spaces with admin_users set)."""
        return bool(self.users)


@dataclass
class Results:
    """Everything the results tab shows."""

    message: str
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    screening: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)
    plots: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def admin_access(lab: Lab) -> Access:
    """Decide, from the settings, whether and how results are served."""
    settings = lab.settings
    users = frozenset(u.strip() for u in (settings.admin_users or "").split(",") if u.strip())
    users = users if os.environ.get("SPACE_ID") else frozenset()  # HF sign-in exists on Spaces only
    if settings.admin_password or users:
        return Access("protected", settings.admin_password or None, users)
    return Access("open") if lab.loopback else Access("off")


def authorize(access: Access, password: str | None, profile: Any = None) -> None:
    """Raise PermissionError unless the caller may see results (checked on the server in every callback)."""
    if access.mode == "open":
        return
    if access.mode == "protected":
        if access.password and password and hmac.compare_digest(password.encode(), access.password.encode()):
            return
        if access.users and profile is not None and getattr(profile, "username", None) in access.users:
            return
    raise PermissionError(DENIED)


def compute_results(lab: Lab, n_boot: int = 2000) -> Results:
    """Export the study's ratings (screening applied), analyse them and collect the downloads."""
    study = lab.study
    if study is None or lab.stimuli is None:
        return Results(f"No study is loaded: {lab.study_problem}")
    out = Path(tempfile.mkdtemp(prefix="results-", dir=_results_root(lab)))
    records = lab.store.list_ratings(study.id)
    rows = rating_rows(records)
    ratings_csv = write_ratings_csv(rows, out / "ratings.csv")
    manifest_csv = Path(shutil.copyfile(study.manifest, out / "manifest.csv"))
    screening = screening_table(rater_status(records))
    results = Results(message="", screening=screening, files=[ratings_csv, manifest_csv])
    if not rows:
        results.message = f"No ratings yet for the study '{study.id}'."
        return results
    try:
        analysis = analyze(ratings_csv, manifest_csv, out / "report", n_boot=n_boot)
    except ValueError as exc:
        results.message = f"{len(rows)} ratings stored; no analysis yet: {exc}"
        return results
    c = analysis.counts
    results.message = (
        f"{c.ratings} ratings from {c.raters} raters; {c.retained} retained from {c.raters_retained} raters "
        f"({c.excluded} excluded, {c.trap_gold} trap/gold)."
    )
    results.summary = analysis.summary
    results.correlations = analysis.correlations
    results.plots = [p for p in analysis.files if p.suffix == ".png"]
    results.files += [p for p in analysis.files if p.suffix in (".html", ".md", ".csv")]
    return results


def screening_table(statuses: Sequence[RaterStatus]) -> pd.DataFrame:
    """The screening per rater (from `listening_tests.screening.rater_status`) as a table."""
    table = [[s.rater_id, s.sessions, s.ratings, s.excluded, s.status, s.reasons] for s in statuses]
    return pd.DataFrame(table, columns=SCREENING_COLUMNS)


def _results_root(lab: Lab) -> Path:
    root = lab.runtime_dir / "results"
    root.mkdir(parents=True, exist_ok=True)
    return root
