"""Bad ratings sent to the running app, the way a hostile or broken browser would send them.

Two apps run as subprocesses: an ACR study that asks for a participant id (so there is a free text
field) and a MUSHRA study (continuous sliders). Every attempt is refused or stored harmlessly and
exactly once; the export and the integrity check find nothing wrong, whatever ran before. Figures go
to a folder from which `python -m tests.reliability.report` renders docs/reliability.md.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import uuid
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.rater_load import endpoints_of
from listening_tests.stimuli import load_stimulus_set
from listening_tests.storage import RatingError, Store
from listening_tests.study import load_study
from tests.support.reliability import AppProcess, Tab, call, call_together, fn_index, outcome, record, run_module

pytestmark = pytest.mark.slow

LISTEN_FIRST = "Please listen to the whole clip, to its end, before rating it."
OTHER_TAB = "This page had already been rated in another tab; those ratings were kept."
HOSTILE = (
    "'; DROP TABLE ratings; --",
    "1 OR 1=1",
    "<script>alert('x')</script>",
    '<img src=x onerror="alert(1)">',
    '"><svg/onload=alert(1)>',
    "Robert'); DELETE FROM raters WHERE ('1'='1",
)


@pytest.fixture(scope="module")
def acr_app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path):
    from tests.support.app import make_stimuli, write_study

    folder = tmp_path_factory.mktemp("ratings-acr")
    study = write_study(
        folder,
        make_stimuli(folder / "stimuli", n_items=6),
        "acr",
        ask_participant_id=True,
        training_items=0,
        items_per_session=3,
    )
    app = AppProcess(folder, study, tiny_models, env={"LAB_ADMIN_PASSWORD": "admin-secret"}).start()
    app.endpoints = endpoints_of(app.url)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def mushra_app(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path):
    from tests.support.app import make_stimuli, write_study

    folder = tmp_path_factory.mktemp("ratings-mushra")
    study = write_study(folder, make_stimuli(folder / "stimuli"), "mushra", training_items=0)
    app = AppProcess(folder, study, tiny_models).start()
    app.endpoints = endpoints_of(app.url)
    app.panel = mushra_panel(app.config())
    try:
        yield app
    finally:
        app.stop()


def mushra_panel(config: dict[str, Any]) -> dict[str, int]:
    """The event indices of the MUSHRA panel (app/static/mushra.js): 'listen' (what is heard) and 'rate'."""
    comps = {c["id"]: c for c in config["components"]}
    events = {}
    for dep in config["dependencies"]:
        for target, trigger in dep["targets"]:
            if comps.get(target, {}).get("props", {}).get("elem_id") == "mushra-panel":
                events[trigger] = dep["id"]
    assert set(events) == {"listen", "rate"}, events
    return events


def db_url(app: AppProcess) -> str:
    return f"sqlite:///{app.data_dir / 'ratings.sqlite'}"


def ratings(app: AppProcess) -> list[Any]:
    store = Store(db_url(app))
    try:
        return store.list_ratings()
    finally:
        store.close()


def count(app: AppProcess) -> int:
    return len(ratings(app))


def acr_tab(app: AppProcess, **kwargs: Any) -> Tab:
    tab = Tab(app.url, app.endpoints, **kwargs)
    view = tab.join(participant=f"p-{uuid.uuid4().hex[:8]}")
    assert view.stage == "page" and view.page == 1, view
    return tab


def mushra_tab(app: AppProcess) -> tuple[Tab, int]:
    tab = Tab(app.url, app.endpoints)
    view = tab.join()
    assert view.stage == "page", view
    spec = next(v["value"] for v in tab.data if isinstance(v, dict) and "stimuli" in (v.get("value") or ()))
    tab.panel_page = spec["page"]
    return tab, len(spec["stimuli"]) - 1  # the open reference, then the conditions


def play_all(app: AppProcess, tab: Tab, clips: int) -> None:
    """Switch through the first `clips` conditions as the panel reports it: heard from one moment to the next."""
    for slot in range(clips):
        tab.send(app.panel["listen"], [None], {"previous": -1, "current": slot})
        tab.send(app.panel["listen"], [None], {"previous": slot, "current": -1})


def rate(app: AppProcess, tab: Tab, scores: Any) -> dict[str, Any]:
    """Save the panel's sliders (one score per condition, None: untouched)."""
    return tab.send(app.panel["rate"], [None], {"page": tab.panel_page, "scores": scores})


# ------------------------------------------------------------------------------------------- scores


def test_scores_out_of_range_or_not_numbers_are_refused(
    acr_app: AppProcess, mushra_app: AppProcess, figures_dir: Path
) -> None:
    before = count(acr_app)
    tab = acr_tab(acr_app)
    tab.listen()
    tried = 0
    for bad in (6, 0, -1, 3.5, 1e308, -1e308, "five", "3", "", [3], {"score": 5}, True, False):
        tried += 1
        stage, message = outcome(tab.submit(bad))
        assert stage in ("refused", "page", "notice") and message, (bad, stage, message)
        assert "Traceback" not in message and count(acr_app) == before, bad
    assert outcome(tab.submit(None)) == ("notice", "Please answer every question on this page before continuing.")
    assert outcome(tab.send(acr_app.endpoints.submit, [None, 3]))[0] == "refused"  # too few values
    tried += 2
    stage, _ = outcome(tab.submit(4))  # the page is still open: the real answer is kept, once
    assert stage == "page" and count(acr_app) == before + 1

    before = count(mushra_app)
    tab, clips = mushra_tab(mushra_app)
    play_all(mushra_app, tab, clips)
    for bad in (150, -5, 100.5, 1e308, "fifty", [50], None, {"v": 1}):
        tried += 1
        sliders = [bad] + [50] * (clips - 1)
        stage, message = outcome(rate(mushra_app, tab, sliders))
        assert stage in ("refused", "notice", "page") and "Traceback" not in message, (bad, stage, message)
        assert count(mushra_app) == before, bad
    for literal in ("NaN", "Infinity", "-Infinity", "1e999"):  # not JSON, but Python's parser takes them
        tried += 1
        message = {
            "data": [None],
            "fn_index": mushra_app.panel["rate"],
            "session_hash": tab.session_hash,
            "event_data": {"page": tab.panel_page, "scores": [0] * clips},
        }
        payload = json.dumps(message, separators=(",", ":"))
        payload = payload.replace('"scores":[0,', f'"scores":[{literal},', 1)
        joined = httpx.post(
            f"{mushra_app.url}/gradio_api/queue/join",
            content=payload,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert joined.status_code in (200, 422), joined.text
        if joined.status_code == 200:  # queued: wait for its answer
            answer = wait_for(mushra_app.url, tab.session_hash, joined.json()["event_id"])
            stage, message = outcome(answer)
            assert stage != "page" or message == "The score must be a number from 0 to 100.", (literal, answer)
        assert count(mushra_app) == before, literal
    stage, message = outcome(rate(mushra_app, tab, [100] + [37.5] * (clips - 1)))
    assert stage in ("page", "done") and message == ""
    assert count(mushra_app) == before + clips
    record(figures_dir, "ratings_scores", {"attempts": tried, "refused": tried, "stored_from_bad_attempts": 0})


def wait_for(url: str, session_hash: str, event_id: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=60) as http:
        with http.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as events:
            for line in events.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                        return message
    raise AssertionError("no answer")


# ---------------------------------------------------------------------------------------- listening


def test_rating_before_the_clip_was_played_is_refused(
    acr_app: AppProcess, mushra_app: AppProcess, figures_dir: Path
) -> None:
    before = count(acr_app)
    tab = acr_tab(acr_app)
    assert outcome(tab.submit(3)) == ("notice", LISTEN_FIRST)  # never played
    tab.send(acr_app.endpoints.end, [None])  # an 'ended' with no play
    assert outcome(tab.submit(3)) == ("notice", LISTEN_FIRST)
    tab.listen(0.0)  # played, but stopped at once and reported as ended
    assert outcome(tab.submit(3)) == ("notice", LISTEN_FIRST)
    tab.send(acr_app.endpoints.play, [None])  # still playing
    assert outcome(tab.submit(3)) == ("notice", LISTEN_FIRST)
    assert count(acr_app) == before
    tab.listen()
    assert outcome(tab.submit(3)) == ("page", "") and count(acr_app) == before + 1

    before = count(mushra_app)
    tab, clips = mushra_tab(mushra_app)
    stage, message = outcome(rate(mushra_app, tab, [60] * clips))
    assert stage == "notice" and message.startswith("Please play every clip before rating")
    play_all(mushra_app, tab, clips - 1)  # all but the last
    stage, message = outcome(rate(mushra_app, tab, [60] * clips))
    assert stage == "notice" and message.endswith(" not played yet).") and count(mushra_app) == before
    play_all(mushra_app, tab, clips)
    assert outcome(rate(mushra_app, tab, [60] * clips))[1] == "" and count(mushra_app) == before + clips
    record(figures_dir, "ratings_listening", {"attempts": 6, "refused": 6, "stored_from_bad_attempts": 0})


# ----------------------------------------------------------------------------------- replays, tabs


def test_replayed_and_concurrent_submissions_are_stored_once(acr_app: AppProcess, figures_dir: Path) -> None:
    before = count(acr_app)
    tab = acr_tab(acr_app)
    tab.listen()
    answers = call_together(acr_app.url, [(acr_app.endpoints.submit, tab.answers(5))] * 5, tab.session_hash)
    assert len(answers) == 5 and all(a.get("success") for a in answers)  # a 5-fold click
    assert count(acr_app) == before + 1
    replay = tab.submit(5)  # the same request again, after the page moved on: the next clip was not heard
    assert outcome(replay) == ("notice", LISTEN_FIRST) and count(acr_app) == before + 1

    second = Tab(acr_app.url, acr_app.endpoints)  # the same rater in a second tab, on the same page
    assert second.open(tab.stored).stage == "page" and second.view.page == 2
    tab.listen()
    second.listen()
    assert outcome(tab.submit(2)) == ("page", "")
    assert outcome(second.submit(4)) == ("page", OTHER_TAB)  # kept: the first tab's answer
    mine = [r for r in ratings(acr_app) if r.session_id == tab.session_id]
    assert count(acr_app) == before + 2 and sorted(r.score for r in mine) == [2.0, 5.0]
    record(figures_dir, "ratings_replays", {"attempts": 8, "stored": 2, "duplicates": 0})


# ------------------------------------------------------------------------------ stimuli and sessions


def test_nobody_can_name_a_stimulus_a_condition_or_another_session(acr_app: AppProcess, figures_dir: Path) -> None:
    config = acr_app.config()
    comps = {c["id"]: c for c in config["components"]}
    submit = next(d for d in config["dependencies"] if d["id"] == acr_app.endpoints.submit)
    assert [comps[i]["type"] for i in submit["inputs"]][1:] == ["radio"] * 3  # scores only (MUSHRA: the panel)

    before = count(acr_app)
    owner, other = acr_tab(acr_app), acr_tab(acr_app)
    forged = {
        "rater_id": other.rater_id,
        "session_id": other.session_id,
        "page": 3,
        "item_id": "mix9_s9",
        "condition": "no_such_system",
        "assignment_id": 10**9,
    }
    owner.listen()
    stage, _ = outcome(owner.send(acr_app.endpoints.submit, [forged, 4, None, None, *[0] * 12, "extra", 99]))
    assert stage == "page"  # the server's own state decides what is rated; the forged values are ignored
    assert count(acr_app) == before + 1
    mine = ratings(acr_app)[-1]
    study = load_study(acr_app.study)
    stimuli = load_stimulus_set(study.manifest)
    assert mine.session_id == owner.session_id and (mine.item_id, mine.condition) in stimuli.stimuli
    assert mine.score == 4.0 and mine.condition != "no_such_system"

    # another rater's session id in the browser storage opens the rater's own session, never the other's
    view = Tab(acr_app.url, acr_app.endpoints).open({"rater_id": owner.rater_id, "session_id": other.session_id})
    assert view.stage == "page" and view.stored == owner.stored
    for stored in (
        {"rater_id": "r_" + "A" * 16},
        {"rater_id": "x" * 100_000},
        {"rater_id": HOSTILE[0]},
        {"rater_id": None, "session_id": other.session_id},
        {"rater_id": ["r_1"]},
    ):
        view = Tab(acr_app.url, acr_app.endpoints).open(stored)
        assert view.stage == "intro", stored
    assert count(acr_app) == before + 1

    # the same refusals in the engine, for callers that use the Store directly
    store = Store(db_url(acr_app))
    store.register_study(study, stimuli)  # the same definition: nothing changes
    try:
        page = store.next_page(owner.session_id, owner.rater_id)
        clip = page.clips[0].assignment_id
        foreign = store.next_page(other.session_id, other.rater_id).clips[0].assignment_id
        refusals = {
            "unknown clip": (owner.session_id, owner.rater_id, 10**9, "ovrl", 3),
            "another session's clip": (owner.session_id, owner.rater_id, foreign, "ovrl", 3),
            "another rater's session": (other.session_id, owner.rater_id, foreign, "ovrl", 3),
            "unknown scale": (owner.session_id, owner.rater_id, clip, "loudness", 3),
            "unknown session": ("s_" + "B" * 16, owner.rater_id, clip, "ovrl", 3),
        }
        for name, (session, rater, assignment, scale, score) in refusals.items():
            with pytest.raises(RatingError) as caught:
                store.save_rating(session, rater, assignment, scale, score, 1.0, f"test.{uuid.uuid4().hex[:12]}")
            assert str(caught.value).endswith("."), name
    finally:
        store.close()
    assert count(acr_app) == before + 1
    record(figures_dir, "ratings_identity", {"forged_requests": 1 + 6 + len(refusals), "stored_into_wrong_session": 0})


# ------------------------------------------------------------------------------------- text fields


def test_oversized_sql_and_html_text_is_refused_or_stored_harmlessly(acr_app: AppProcess, figures_dir: Path) -> None:
    ep = acr_app.endpoints
    tried = refused = 0
    for text in ("x" * 129, "x" * 100_000, "x" * 2_000_000, "tab\there", "nul\x00byte", "   "):
        tried += 1
        tab = Tab(acr_app.url, ep)
        tab.open()
        answer = tab.send(ep.consent, [None, text])
        stage, message = outcome(answer)
        assert stage in ("consent", "refused") and "Traceback" not in message, (text[:20], stage, message)
        refused += 1
    accepted = []
    for text in HOSTILE:  # printable and short: a participant id may look like this; it is stored as text
        tried += 1
        tab = Tab(acr_app.url, ep)
        tab.open()
        view = tab.step(ep.consent, [None, text])
        assert view.stage == "instructions" and text not in view.text
        accepted.append((tab, text))
    for text in HOSTILE[:3]:  # the same through the participant link (?PROLIFIC_PID=...)
        tried += 1
        tab = Tab(acr_app.url, ep, query={"PROLIFIC_PID": text + "-link"})
        assert tab.open().stage == "intro"
        assert tab.step(ep.consent, [None, ""]).stage == "instructions"
        accepted.append((tab, text + "-link"))
    tab, _ = accepted[0]
    tab.step(ep.begin, [None])
    tab.listen()
    assert outcome(tab.submit(2)) == ("page", "")

    results = fn_index(acr_app.config(), "results_password")
    for password in ("x" * 1_000_000, *HOSTILE, ""):
        tried += 1
        answer = call(acr_app.url, results, [password])
        assert answer.get("success") and "administrators" in answer["output"]["data"][0]
        assert answer["output"]["data"][6] is None
        refused += 1
    pick = fn_index(acr_app.config(), "pick")
    for name in HOSTILE:
        tried += 1
        assert outcome(call(acr_app.url, pick, [name]))[0] == "refused"
        refused += 1

    store = Store(db_url(acr_app))
    try:
        for tab, text in accepted:  # stored exactly as typed, as data (the tables are all still there)
            assert store.get_rater(tab.rater_id).participant_id == text
        assert len(store.study_ids()) == 1
    finally:
        store.close()
    record(figures_dir, "ratings_text", {"attempts": tried, "refused": refused, "stored_as_plain_text": len(accepted)})


# ------------------------------------------------------------------------------------------ export


def test_export_and_integrity_check_find_nothing_wrong(
    acr_app: AppProcess, mushra_app: AppProcess, tmp_path, figures_dir: Path
) -> None:
    """Whatever the other tests stored before (in any order, or none), the export holds every stored rating
    once, in range and as plain text; this test stores its own hostile rater and ratings first."""
    tab = Tab(acr_app.url, acr_app.endpoints)
    tab.open()
    hostile = f"{HOSTILE[0]}-{uuid.uuid4().hex[:6]}"  # a new participant, whatever the other tests used
    assert tab.step(acr_app.endpoints.consent, [None, hostile]).stage == "instructions"
    tab.step(acr_app.endpoints.begin, [None])
    tab.listen()
    assert outcome(tab.submit(2)) == ("page", "")
    mushra, clips = mushra_tab(mushra_app)
    play_all(mushra_app, mushra, clips)
    assert outcome(rate(mushra_app, mushra, [100] + [37.5] * (clips - 1)))[1] == ""
    figures: dict[str, Any] = {}
    for name, app, session in (("acr", acr_app, tab.session_id), ("mushra", mushra_app, mushra.session_id)):
        out = tmp_path / f"{name}.csv"
        done = run_module("listening_tests", "export", "--db", db_url(app), "--out", str(out))
        assert done.returncode == 0, done.stderr
        with open(out, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == stored_rows(app)  # counted with plain SQL, not through the Store
        assert sum(r["session_id"] == session for r in rows) == (1 if name == "acr" else clips)
        keys = Counter((r["session_id"], r["item_id"], r["condition"], r["scale"]) for r in rows)
        assert max(keys.values(), default=1) == 1  # no duplicates
        low, high = (0, 100) if name == "mushra" else (1, 5)
        assert all(low <= float(r["score"]) <= high for r in rows)
        text = out.read_text(encoding="utf-8")
        assert not any(h in text for h in HOSTILE) and "<" not in text and "DROP" not in text
        check = run_module("listening_tests", "check", "--db", db_url(app))
        assert check.returncode == 0 and "database consistent" in check.stdout, check.stderr
        assert app.crashes_in_our_code() == []
        figures[name] = {
            "rows_exported": len(rows),
            "duplicates": 0,
            "out_of_range": 0,
            "integrity_problems": 0,
            "crashes_in_app_code": 0,
        }
    record(figures_dir, "ratings_export", figures)


def stored_rows(app: AppProcess) -> int:
    """How many ratings the app's SQLite file holds, read with sqlite3 itself."""
    with closing(sqlite3.connect(app.data_dir / "ratings.sqlite")) as db:
        return db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0]
