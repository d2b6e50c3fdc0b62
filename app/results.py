"""The admin-only results tab: who may see it, what it shows (computed by listening_tests), and the tab.

Access: with `admin_password` set, every results callback checks the password on the server; on
Hugging Face Spaces a signed-in user listed in `admin_users` may also see them. Without either, results
are served only when the app listens on a loopback address; otherwise the tab is not built at all.
"""

from __future__ import annotations

import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app import messages
from app.services import Services
from listening_tests.analysis import StudyRules
from listening_tests.export import rating_rows, write_ratings_csv
from listening_tests.monitoring import StudyMonitor, monitor_study
from listening_tests.report import analyze
from listening_tests.report.text import opening
from listening_tests.screening import RaterStatus, rater_status

PRIVATE: dict[str, Any] = {"api_visibility": "private"}
SCREENING_COLUMNS = ["rater_id", "sessions", "ratings", "excluded_ratings", "status", "reasons"]
MONITOR_COLUMNS = ["screening rule", "raters", "sessions"]
MONITOR_REFRESH_S = 10.0  # how often an open results page reads the monitor again


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
    findings: list[str] = field(default_factory=list)  # the report's opening sentences, then its warnings
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    screening: pd.DataFrame = field(default_factory=pd.DataFrame)
    correlations: pd.DataFrame = field(default_factory=pd.DataFrame)
    plots: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def admin_access(services: Services) -> Access:
    """Decide, from the settings, whether and how results are served."""
    settings = services.settings
    users = frozenset(u.strip() for u in (settings.admin_users or "").split(",") if u.strip())
    users = users if os.environ.get("SPACE_ID") else frozenset()  # HF sign-in exists on Spaces only
    if settings.admin_password or users:
        return Access("protected", settings.admin_password or None, users)
    return Access("open") if services.loopback else Access("off")


def authorize(access: Access, password: str | None, profile: Any = None) -> None:
    """Raise PermissionError unless the caller may see results (checked on the server in every callback)."""
    if access.mode == "open":
        return
    if access.mode == "protected":
        if access.password and password and hmac.compare_digest(password.encode(), access.password.encode()):
            return
        if access.users and profile is not None and getattr(profile, "username", None) in access.users:
            return
    raise PermissionError(messages.DENIED)


def compute_results(services: Services, n_boot: int = 2000) -> Results:
    """Export the study's ratings (screening applied), analyse them and collect the downloads."""
    study = services.study
    if study is None or services.stimuli is None:
        return Results(messages.no_study(services.study_problem))
    out = Path(tempfile.mkdtemp(prefix="results-", dir=_results_root(services)))
    records = services.store.list_ratings(study.id)
    rows = rating_rows(records)
    ratings_csv = write_ratings_csv(rows, out / "ratings.csv")
    manifest_csv = Path(shutil.copyfile(study.manifest, out / "manifest.csv"))
    screening = screening_table(rater_status(records))
    results = Results(message="", screening=screening, files=[ratings_csv, manifest_csv])
    if not rows:
        results.message = messages.no_ratings(study.id)
        return results
    try:
        rules = StudyRules(study.path.name, study.protocol, study.votes_per_stimulus)
        analysis = analyze(ratings_csv, manifest_csv, out / "report", n_boot=n_boot, study=rules)
    except ValueError as exc:
        results.message = messages.no_analysis(len(rows), exc)
        return results
    c = analysis.counts
    results.message = messages.ratings_counted(
        c.ratings, c.raters, c.retained, c.raters_retained, c.excluded, c.trap_gold
    )
    results.findings = [*opening(analysis), *analysis.warnings]
    results.summary = analysis.summary
    results.correlations = analysis.correlations
    results.plots = [p for p in analysis.files if p.suffix == ".png"]
    results.files += [p for p in analysis.files if p.suffix in (".html", ".md", ".csv")]
    return results


def monitor(services: Services) -> StudyMonitor | None:
    """The served study's monitor (None without a study and its stimuli)."""
    if services.study is None or services.stimuli is None:
        return None
    return monitor_study(services.store, services.study, services.stimuli)


def monitor_table(found: StudyMonitor) -> pd.DataFrame:
    """Raters and sessions failing each screening rule, as a table."""
    return pd.DataFrame([[f.rule, f.raters, f.sessions] for f in found.failures], columns=MONITOR_COLUMNS)


def screening_table(statuses: Sequence[RaterStatus]) -> pd.DataFrame:
    """The screening per rater (from `listening_tests.screening.rater_status`) as a table."""
    table = [[s.rater_id, s.sessions, s.ratings, s.excluded, s.status, s.reasons] for s in statuses]
    return pd.DataFrame(table, columns=SCREENING_COLUMNS)


def build_tab(services: Services, access: Access) -> None:
    """The results tab's components and events (built only when `access.mode` is not 'off')."""
    if access.mode == "open":
        gr.Markdown(messages.OPEN_RESULTS)
    password = gr.Textbox(label="Admin password", type="password", visible=access.password is not None)
    if access.oauth:
        gr.LoginButton()
    show = gr.Button("Show results", variant="primary")
    with gr.Column(visible=False) as monitor_box:
        monitor_text = gr.Markdown(elem_id="study-monitor")
        monitor_rules = gr.Dataframe(label="Raters and sessions failing each screening rule", interactive=False)
        refresh = gr.Button("Refresh the monitor", size="sm")
    timer = gr.Timer(MONITOR_REFRESH_S, active=False)
    status = gr.Markdown()
    with gr.Column(visible=False) as found_box:
        summary = gr.Dataframe(label="Per-condition summary (retained ratings)", interactive=False)
        screening = gr.Dataframe(label="Screening per rater", interactive=False)
        correlations = gr.Dataframe(label="Listener scores against objective metrics", interactive=False)
        plots = gr.Gallery(label="Plots", columns=2, height="auto", object_fit="contain")
        files = gr.File(label="Downloads: ratings.csv, manifest.csv, report", file_count="multiple", interactive=False)
    outputs = [status, found_box, summary, screening, correlations, plots, files]
    monitor_outputs = [monitor_box, monitor_text, monitor_rules, timer]

    def results(password_text: str | None, profile: Any = None) -> tuple[Any, ...]:
        try:
            authorize(access, password_text, profile)
        except PermissionError:
            return messages.alert(messages.DENIED), gr.update(visible=False), None, None, None, None, None
        found = compute_results(services)
        return (
            messages.with_findings(found.message, found.findings),
            gr.update(visible=bool(found.files)),
            found.summary.round(3),
            found.screening,
            found.correlations.round(3),
            [str(p) for p in found.plots],
            [str(p) for p in found.files],
        )

    def monitored(password_text: str | None, profile: Any = None) -> tuple[Any, ...]:
        try:
            authorize(access, password_text, profile)
        except PermissionError:
            return gr.update(visible=False), None, None, gr.Timer(active=False)
        found = monitor(services)
        if found is None:
            return gr.update(visible=False), None, None, gr.Timer(active=False)
        read_at = time.strftime("%H:%M:%S")
        table = monitor_table(found)
        return gr.update(visible=True), messages.monitor_summary(found, read_at), table, gr.Timer(active=True)

    handler, monitor_handler = _signed_in(access, results), _signed_in(access, monitored)
    for trigger in (show.click, password.submit):
        trigger(handler, [password], outputs, show_progress_on=[status], **PRIVATE).then(
            monitor_handler, [password], monitor_outputs, **PRIVATE
        )
    refresh.click(monitor_handler, [password], monitor_outputs, **PRIVATE)
    timer.tick(monitor_handler, [password], monitor_outputs, show_progress="hidden", **PRIVATE)


def _signed_in(access: Access, callback: Callable[..., tuple[Any, ...]]) -> Callable[..., tuple[Any, ...]]:
    """The event handler of `callback(password, profile)`: with Hugging Face sign-in, Gradio fills in the
    profile from the parameter's type; otherwise the password is the only input."""
    if access.oauth:

        def with_profile(password_text: str | None, profile: gr.OAuthProfile | None) -> tuple[Any, ...]:
            return callback(password_text, profile)

        with_profile.__name__ = f"{callback.__name__}_signed_in"  # Gradio names the (private) event after it
        return with_profile

    def with_password(password_text: str | None) -> tuple[Any, ...]:
        return callback(password_text)

    with_password.__name__ = f"{callback.__name__}_password"
    return with_password


def _results_root(services: Services) -> Path:
    root = services.runtime_dir / "results"
    root.mkdir(parents=True, exist_ok=True)
    return root
