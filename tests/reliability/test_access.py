"""Who can reach what: results, exports and reports need the admin password; rater ids are pseudonymous
and exports hold no personal data; stimuli are served by id only, never by a path a user gives.

One app runs as a subprocess with an admin password and a study that asks for a participant id (the
case where personal data exists at all). Figures go to a folder from which
`python -m tests.reliability.report` renders docs/reliability.md.
"""

from __future__ import annotations

import csv
import re
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import soundfile as sf

from app.messages import DENIED
from app.rater_load import endpoints_of
from listening_tests.export import RATINGS_COLUMNS
from listening_tests.study import StudyError, load_study
from tests.support.paths import ROOT
from tests.support.reliability import USER_AGENT, AppProcess, Tab, call, files_under, fn_index, record, run_module

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
PARTICIPANTS = ("jane.doe@example.org", "PROLIFIC-5f2c9a1b7e", "Erika Mustermann")
RATER_ID = re.compile(r"^r_[A-Za-z0-9_-]{16}$")
SESSION_ID = re.compile(r"^s_[A-Za-z0-9_-]{16}$")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path):
    """The app with an admin password; three raters (with participant ids) have rated two clips each."""
    from tests.support.app import make_stimuli, write_study

    folder = tmp_path_factory.mktemp("access")
    study = write_study(folder, make_stimuli(folder / "stimuli"), "acr", ask_participant_id=True, training_items=0)
    process = AppProcess(folder, study, tiny_models, env={"LAB_ADMIN_PASSWORD": PASSWORD}).start()
    process.endpoints = endpoints_of(process.url)
    process.tabs = []
    try:
        for participant in PARTICIPANTS:
            tab = Tab(process.url, process.endpoints)
            assert tab.join(participant).stage == "page"
            for score in (2, 4):
                tab.listen()
                assert tab.submit(score).get("success")
            process.tabs.append(tab)
        yield process
    finally:
        process.stop()


def db_path(app: AppProcess) -> Path:
    return app.data_dir / "ratings.sqlite"


def secrets_of(app: AppProcess) -> list[str]:
    """Strings nobody without credentials may see: rater and session ids, participant ids, the password."""
    values = [PASSWORD, *PARTICIPANTS]
    for tab in app.tabs:
        values += [tab.rater_id, tab.session_id]
    return values


# ------------------------------------------------------------------------------------------ results


def test_results_and_reports_need_the_admin_password(app: AppProcess, figures_dir: Path) -> None:
    config = app.config()
    handlers = [fn_index(config, "results_password"), fn_index(config, "results_password_1")]  # click, Enter
    wrong = (
        None,
        "",
        " ",
        "wrong",
        PASSWORD.upper(),
        PASSWORD + " ",
        " " + PASSWORD,
        PASSWORD[:-1],
        PASSWORD + "x",
        "x" * 1_000_000,
        "' OR '1'='1",
        {"password": PASSWORD},
        [PASSWORD],
    )
    denied = 0
    for fn in handlers:
        for attempt in wrong:
            answer = call(app.url, fn, [attempt])
            if answer.get("success"):
                data = answer["output"]["data"]
                assert DENIED in data[0] and data[5] in (None, []) and data[6] is None, attempt
                assert all(not (table or {}).get("data") for table in data[2:5]), attempt
            text = str(answer)
            assert not any(s in text for s in secrets_of(app)), attempt
            denied += 1
        granted = call(app.url, fn, [PASSWORD])["output"]["data"]
        # The three sessions are unfinished, so screening keeps none of their ratings for the analysis.
        assert "6 ratings stored" in granted[0] and len(granted[6]) >= 2
    record(
        figures_dir,
        "access_results",
        {
            "attempts_without_credentials": denied,
            "granted_without_credentials": 0,
            "granted_with_password": len(handlers),
        },
    )


def test_no_other_event_or_route_gives_away_results_or_rater_data(app: AppProcess, figures_dir: Path) -> None:
    """Every event of the app, called by index with empty inputs (as any client can), and the public routes."""
    config = app.config()
    results = {fn_index(config, "results_password"), fn_index(config, "results_password_1")}
    called = 0
    for dep in config["dependencies"]:
        if dep["id"] in results:
            continue
        answer = call(app.url, dep["id"], [None] * len(dep["inputs"]), timeout=60)
        text = str(answer)
        assert not any(s in text for s in secrets_of(app)), (dep.get("api_name"), text[:300])
        assert "ratings.csv" not in text and "ratings.sqlite" not in text
        called += 1
    routes = [
        "/",
        "/config",
        "/gradio_api/info",
        "/gradio_api/queue/status",
        "/gradio_api/startup-events",
        "/gradio_api/heartbeat/" + uuid.uuid4().hex[:11],
        "/robots.txt",
        "/manifest.json",
    ]
    for route in routes:
        text = read_route(app.url + route)
        assert not any(s in text for s in secrets_of(app)), route
    api = httpx.get(app.url + "/gradio_api/info", timeout=10).json()
    assert list(api["named_endpoints"]) == ["/separate"] and not api.get("unnamed_endpoints")
    record(
        figures_dir,
        "access_events",
        {"events_called_without_credentials": called, "public_routes_checked": len(routes), "leaks": 0},
    )


def read_route(url: str, quiet_s: float = 3.0) -> str:
    """The body of a GET; for a stream that stays open (the heartbeat), what it sent until it went quiet."""
    text = ""
    with httpx.stream("GET", url, timeout=quiet_s) as response:
        try:
            for chunk in response.iter_text():
                text += chunk
        except httpx.ReadTimeout:
            pass
    return text


# ------------------------------------------------------------------------------------------ files


def test_stimuli_are_served_by_id_only_and_no_path_a_user_gives_is_read(app: AppProcess, figures_dir: Path) -> None:
    tab = app.tabs[0]
    page = Tab(app.url, app.endpoints).open(tab.stored)
    again = Tab(app.url, app.endpoints).open(tab.stored)  # the same clip, opened in a second tab
    served = [urlpath(page.clip_url), urlpath(again.clip_url)]
    names = [Path(p).name for p in served]
    assert served[0] != served[1] and all(re.fullmatch(r"[0-9a-f]{24}\.wav", n) for n in names)
    bodies = [httpx.get(app.url + p, timeout=10) for p in served]
    assert all(b.status_code == 200 for b in bodies) and bodies[0].content != bodies[1].content
    stimuli = app.study.parent / "stimuli"
    conditions = {r["condition"] for r in csv.DictReader(open(stimuli / "manifest.csv"))}
    for body in bodies:  # neither the URL nor the bytes (metadata included) name the condition or the item
        assert not any(c.encode() in body.content for c in conditions | {"mix0", "mix1"})
    info = sf.info(app.tmp / "clip.wav") if False else None
    del info

    runtime = app.runtime_dir
    forbidden = [
        db_path(app),
        app.data_dir / ".app_secret",
        stimuli / "manifest.csv",
        stimuli / "trials.csv",
        *sorted((stimuli / "wav").rglob("*.wav"))[:3],
        *sorted((runtime / "blind").glob("*.wav"))[:2],
        app.study,
        Path("/etc/passwd"),
        ROOT / "app.py",
    ]
    granted = call(app.url, fn_index(app.config(), "results_password"), [PASSWORD])["output"]["data"][6]
    forbidden += sorted((runtime / "results").rglob("*.csv"))[:3]  # the report's files outside Gradio's cache
    tried = 0
    for path in forbidden:
        for url in (
            f"/gradio_api/file={path}",
            f"/gradio_api/file/{path}",
            f"/file={path}",
            f"/gradio_api/file={runtime / 'gradio'}/../../../{path.relative_to(path.anchor)}",
            f"/gradio_api/file=../../../../{path.relative_to(path.anchor)}",
            f"/gradio_api/file={str(path).replace('/', '%2F')}",
        ):
            response = httpx.get(app.url + url, timeout=10)
            assert response.status_code in (403, 404), (url, response.status_code)
            tried += 1
    assert granted and all("/gradio/" in f["path"] for f in granted)  # the admin's copies: unguessable URLs

    separate = fn_index(app.config(), "separate")
    before = db_path(app).read_bytes()
    for path in (db_path(app), stimuli / "wav" / "mix0_s1" / "reference.wav", Path("/etc/passwd")):
        for file in (
            {"path": str(path), "meta": {"_type": "gradio.FileData"}},
            {"path": str(path), "url": f"{app.url}/gradio_api/file={path}", "meta": {"_type": "gradio.FileData"}},
            str(path),
        ):
            answer = call(app.url, separate, [file, None, None])
            assert not answer.get("success"), (path, answer)
            tried += 1
    assert not (runtime / "lab").exists() or not any((runtime / "lab").iterdir())  # nothing was separated
    assert db_path(app).read_bytes() == before
    record(figures_dir, "access_files", {"forbidden_requests": tried, "served": 0, "clip_urls_random": True})


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]


# ------------------------------------------------------------------------------------ personal data


def test_rater_ids_are_pseudonymous_and_exports_hold_no_personal_data(
    app: AppProcess, tmp_path: Path, figures_dir: Path
) -> None:
    out = tmp_path / "ratings.csv"
    done = run_module("listening_tests", "export", "--db", f"sqlite:///{db_path(app)}", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == RATINGS_COLUMNS and len(rows) == 6
    assert {r["rater_id"] for r in rows} == {t.rater_id for t in app.tabs}
    assert all(RATER_ID.match(r["rater_id"]) for r in rows)
    assert all(SESSION_ID.match(r["session_id"]) for r in rows)
    text = out.read_text(encoding="utf-8")
    for row in rows:  # random tokens, checked above; a fragment like "doe" may occur in one by chance
        text = text.replace(row["rater_id"], "").replace(row["session_id"], "")
    personal = [*PARTICIPANTS, "jane", "doe", "Erika", "PROLIFIC", "127.0.0.1", "reliability-probe", USER_AGENT]
    assert not any(p.lower() in text.lower() for p in personal)

    granted = call(app.url, fn_index(app.config(), "results_password"), [PASSWORD])["output"]["data"][6]
    for file in granted:  # the admin's downloads (ratings, manifest, report) hold no participant id either
        content = Path(file["path"]).read_bytes().decode("utf-8", "replace").lower()
        assert not any(p.lower() in content for p in PARTICIPANTS), file["path"]

    with sqlite3.connect(f"file:{db_path(app)}?mode=ro", uri=True) as db:  # what the database keeps at all
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        cells = [str(v) for t in tables for row in db.execute(f'select * from "{t}"') for v in row if v is not None]
        participants = [r[0] for r in db.execute("select participant_id from raters")]
    assert not any(("127.0.0.1" in c or "reliability-probe" in c) for c in cells)  # no address, no browser
    assert sorted(participants) == sorted(PARTICIPANTS)  # kept (the study asks, and its consent says so) ...
    consent = load_study(app.study).consent
    assert "participant id" in consent  # ... in the raters table only, never in an export

    study = app.study.read_text(encoding="utf-8") + "consent: We store your ratings only.\n"
    silent = tmp_path / "silent.yaml"
    silent.write_text(study, encoding="utf-8")
    with pytest.raises(StudyError, match="participant id"):
        load_study(silent)
    record(
        figures_dir,
        "access_personal_data",
        {
            "export_columns": list(RATINGS_COLUMNS),
            "rows": len(rows),
            "personal_values_in_export": 0,
            "ip_or_user_agent_stored": 0,
            "participant_ids_in_admin_downloads": 0,
        },
    )


def _unused(*_: Any) -> None:
    files_under(Path("."))
