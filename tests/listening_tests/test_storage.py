"""Store: raters, sessions, pages, idempotent validated ratings, balance, concurrency (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import insert

from listening_tests.stimuli import Stimulus, StimulusSet, Trial
from listening_tests.storage import (
    DEMO_RATER_ID,
    DEMO_STUDY_ID,
    Rating,
    RatingError,
    Store,
    StoreError,
    StudyFullError,
)
from listening_tests.storage.schema import assignments, ratings
from listening_tests.study import Study
from tests.support.pg import postgres_server, postgres_url  # noqa: F401 (fixtures)

CONDITIONS = ("reference", "mixture", "anchor_lp3500", "anchor_lp7000", "sepformer", "sepformer_diffwave")


def make_stimuli(tmp_path: Path, n_items: int = 6, duration_s: float = 3.0) -> StimulusSet:
    """A stimulus set (paths need not exist) with two traps and two gold clips."""
    items = [f"mix{i // 2}_s{i % 2 + 1}" for i in range(n_items)]
    stimuli = {
        (item, c): Stimulus(item, c, tmp_path / f"{item}_{c}.wav", duration_s, 16000)
        for item in items
        for c in CONDITIONS
    }
    controls = [
        Trial(items[0 % n_items], "trap_2", "trap", "ovrl", 2, 0),
        Trial(items[1 % n_items], "trap_4", "trap", "ovrl", 4, 0),
        Trial(items[2 % n_items], "gold_excellent", "gold", "ovrl", 5, 1),
        Trial(items[3 % n_items], "gold_bad", "gold", "ovrl", 1, 1),
    ]
    for t in controls:
        stimuli[(t.item_id, t.condition)] = Stimulus(
            t.item_id, t.condition, tmp_path / f"{t.condition}.wav", 4.0, 16000
        )
    return StimulusSet(tmp_path / "manifest.csv", stimuli, {(t.item_id, t.condition): t for t in controls})


def make_study(tmp_path: Path, protocol: str = "acr", **overrides: object) -> Study:
    """A study over make_stimuli's set."""
    defaults: dict[str, object] = {
        "id": f"test-{protocol}",
        "title": "Test study",
        "protocol": protocol,
        "path": tmp_path / "study.yaml",
        "manifest": tmp_path / "manifest.csv",
        "items_per_session": 10 if protocol != "mushra" else 3,
        "votes_per_stimulus": 5,
        "trapping": 0 if protocol == "mushra" else 1,
        "gold": 0 if protocol == "mushra" else 1,
        "completion_code_prefix": "TST",
        "definition": {"id": f"test-{protocol}"},
    }
    defaults.update(overrides)
    return Study(**defaults)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'ratings.sqlite'}"
    return request.getfixturevalue("postgres_url")


def open_store(url: str, study: Study, stimuli: StimulusSet, **kwargs: object) -> Store:
    store = Store(url, **kwargs)
    store.register_study(study, stimuli)
    return store


def rate_page(store: Store, session_id: str, rater_id: str, score: float = 3, listen_s: float = 10.0) -> list:
    """Answer every open (clip, scale) of the current page; returns the saved ratings."""
    page = store.next_page(session_id, rater_id)
    saved = []
    for clip in page.clips:
        for scale in page.scales:
            if scale not in clip.rated:
                key = f"k-{session_id}-{clip.assignment_id}-{scale}"
                saved.append(store.save_rating(session_id, rater_id, clip.assignment_id, scale, score, listen_s, key))
    return saved


def finish_session(store: Store, session_id: str, rater_id: str, score: float = 3) -> None:
    while store.next_page(session_id, rater_id) is not None:
        rate_page(store, session_id, rater_id, score)


def run_together(worker: Callable[..., None], arguments: list[tuple]) -> None:
    """Run `worker(*args)` for every args in its own thread, all at once, and wait for them (at most 60 s each)."""
    threads = [threading.Thread(target=worker, args=args) for args in arguments]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)


def test_raters_are_pseudonymous_and_participant_ids_only_when_asked(db_url: str, tmp_path: Path) -> None:
    stimuli = make_stimuli(tmp_path)
    store = open_store(db_url, make_study(tmp_path), stimuli)
    rater = store.create_rater("test-acr")
    assert rater.id.startswith("r_") and rater.participant_id is None
    assert store.get_rater(rater.id) == rater
    assert store.get_rater("r_unknown") is None
    with pytest.raises(StoreError, match="does not collect participant ids"):
        store.create_rater("test-acr", participant_id="P123")
    with pytest.raises(StoreError, match="not loaded"):
        store.create_rater("other-study")

    asking = make_study(tmp_path, id="ask", ask_participant_id=True)
    store.register_study(asking, stimuli)
    first = store.create_rater("ask", participant_id=" P123 ")
    assert first.participant_id == "P123"
    assert store.create_rater("ask", participant_id="P123").id == first.id
    with pytest.raises(StoreError, match="needs your participant id"):
        store.create_rater("ask")
    store.close()


def test_acr_session_pages_are_blind_and_include_trap_and_gold(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, make_study(tmp_path), make_stimuli(tmp_path))
    rater = store.create_rater("test-acr")
    session = store.start_session(rater.id)
    assert session.scales == ("ovrl",) and not session.finished
    assert store.start_session(rater.id).id == session.id  # resume, not a second session
    progress = store.progress(session.id)
    assert (progress.pages_total, progress.pages_done) == (12, 0)
    page = store.next_page(session.id, rater.id)
    assert page.index == 0 and page.total == 12 and len(page.clips) == 1
    assert page.clips[0].label == "Clip 1" and page.reference is None
    assert "condition" not in vars(page.clips[0])
    kinds = [e["kind"] for e in store.events(session.id)]
    assert kinds == ["session_started", "session_resumed"]
    assert store.get_session(session.id) == session and store.get_session("s_nope") is None
    training = store.training_pages(session.id, rater.id)
    assert len(training) == 3 and all(p.training and len(p.clips) == 1 for p in training)
    assert all(p.clips[0].assignment_id is None for p in training)
    assert store.progress(session.id).ratings_done == 0  # training answers are never stored
    store.close()


def test_full_session_finishes_with_completion_code_and_clean_integrity(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, make_study(tmp_path), make_stimuli(tmp_path))
    rater = store.create_rater("test-acr")
    session = store.start_session(rater.id)
    finish_session(store, session.id, rater.id)
    progress = store.progress(session.id)
    assert progress.finished and progress.pages_done == progress.pages_total == 12
    assert progress.ratings_done == 12
    assert progress.completion_code.startswith("TST-") and len(progress.completion_code) == 12
    assert store.next_page(session.id, rater.id) is None
    records = store.list_ratings("test-acr")
    assert len(records) == 12 and {r.kind for r in records} == {"test", "trap", "gold"}
    assert all(r.session_finished and r.created_at.tzinfo is not None for r in records)
    assert store.integrity_check() == []
    assert [e["kind"] for e in store.events(session.id)].count("session_finished") == 1
    new = store.start_session(rater.id)  # a second session never repeats what this rater had
    assert new.id != session.id and new.number == 1
    seen = {(r.item_id, r.condition) for r in records if r.kind == "test"}
    assert seen.isdisjoint(_session_keys(store, new.id, kind="test"))
    store.close()


def test_replayed_submission_returns_the_original_and_stores_once(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, make_study(tmp_path), make_stimuli(tmp_path))
    rater = store.create_rater("test-acr")
    session = store.start_session(rater.id)
    clip = store.next_page(session.id, rater.id).clips[0]
    first = store.save_rating(session.id, rater.id, clip.assignment_id, "ovrl", 4, 5.0, "key-00000001")
    again = store.save_rating(session.id, rater.id, clip.assignment_id, "ovrl", 1, 9.0, "key-00000001")
    assert again == first and again.score == 4
    assert len(store.list_ratings()) == 1
    other = store.create_rater("test-acr")
    other_session = store.start_session(other.id)
    other_clip = store.next_page(other_session.id, other.id).clips[0]
    with pytest.raises(RatingError, match="another session"):
        store.save_rating(other_session.id, other.id, other_clip.assignment_id, "ovrl", 4, 5.0, "key-00000001")
    store.close()


@pytest.mark.parametrize(
    ("score", "listen_s", "scale", "message"),
    [
        (0, 5.0, "ovrl", "whole number from 1 to 5"),
        (6, 5.0, "ovrl", "whole number from 1 to 5"),
        (3.5, 5.0, "ovrl", "whole number from 1 to 5"),
        ("3", 5.0, "ovrl", "whole number from 1 to 5"),
        (float("nan"), 5.0, "ovrl", "whole number from 1 to 5"),
        (True, 5.0, "ovrl", "whole number from 1 to 5"),
        (3, -1.0, "ovrl", "listening time"),
        (3, float("inf"), "ovrl", "listening time"),
        (3, 1e6, "ovrl", "listening time"),
        (3, 5.0, "sig", "scale must be one of ovrl"),
    ],
)
def test_invalid_ratings_are_refused_with_one_sentence(
    score: object, listen_s: float, scale: str, message: str, tmp_path: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'r.sqlite'}", make_study(tmp_path), make_stimuli(tmp_path))
    rater = store.create_rater("test-acr")
    session = store.start_session(rater.id)
    clip = store.next_page(session.id, rater.id).clips[0]
    with pytest.raises(RatingError, match=message) as caught:
        store.save_rating(session.id, rater.id, clip.assignment_id, scale, score, listen_s, "key-00000002")
    assert str(caught.value).count(".") == 1 and str(caught.value).endswith(".")
    assert store.list_ratings() == []
    assert store.events(session.id)[-1]["kind"] == "rating_refused"
    store.close()


def test_ratings_must_belong_to_the_rater_session_and_current_page(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, make_study(tmp_path), make_stimuli(tmp_path))
    alice, bob = store.create_rater("test-acr"), store.create_rater("test-acr")
    s_alice, s_bob = store.start_session(alice.id), store.start_session(bob.id)
    clip = store.next_page(s_alice.id, alice.id).clips[0]
    bob_clip = store.next_page(s_bob.id, bob.id).clips[0]
    with pytest.raises(RatingError, match="belongs to another rater"):
        store.save_rating(s_alice.id, bob.id, clip.assignment_id, "ovrl", 3, 5.0, "key-00000003")
    with pytest.raises(RatingError, match="not part of this session"):
        store.save_rating(s_alice.id, alice.id, bob_clip.assignment_id, "ovrl", 3, 5.0, "key-00000004")
    with pytest.raises(RatingError, match="not on the current page"):
        store.save_rating(s_alice.id, alice.id, clip.assignment_id + 1, "ovrl", 3, 5.0, "key-00000005")
    with pytest.raises(RatingError, match="submission key"):
        store.save_rating(s_alice.id, alice.id, clip.assignment_id, "ovrl", 3, 5.0, "short")
    store.save_rating(s_alice.id, alice.id, clip.assignment_id, "ovrl", 3, 5.0, "key-00000006")
    with pytest.raises(RatingError, match="not on the current page|already been rated"):
        store.save_rating(s_alice.id, alice.id, clip.assignment_id, "ovrl", 2, 5.0, "key-00000007")
    finish_session(store, s_alice.id, alice.id)
    with pytest.raises(RatingError, match="already complete"):
        store.save_rating(s_alice.id, alice.id, clip.assignment_id, "ovrl", 2, 5.0, "key-00000008")
    assert len(store.list_ratings()) == 12
    store.close()


def test_mushra_pages_hold_every_condition_with_open_reference(db_url: str, tmp_path: Path) -> None:
    stimuli = make_stimuli(tmp_path)
    store = open_store(db_url, make_study(tmp_path, "mushra"), stimuli)
    rater = store.create_rater("test-mushra")
    session = store.start_session(rater.id)
    page = store.next_page(session.id, rater.id)
    assert page.total == 3 and page.scales == ("mushra",)
    assert [c.label for c in page.clips] == list("ABCDEF")
    item = page.reference.name.removesuffix("_reference.wav")
    assert page.reference == stimuli.stimuli[(item, "reference")].path
    assert sorted(c.path.name for c in page.clips) == sorted(f"{item}_{c}.wav" for c in CONDITIONS)
    first = page.clips[0]
    store.save_rating(session.id, rater.id, first.assignment_id, "mushra", 87.5, 12.0, "key-mushra-1")
    with pytest.raises(RatingError, match="number from 0 to 100"):
        store.save_rating(session.id, rater.id, page.clips[1].assignment_id, "mushra", 101, 12.0, "key-mushra-2")
    resumed = store.next_page(session.id, rater.id)
    assert resumed.index == 0 and resumed.clips[0].rated == {"mushra": 87.5}
    (training,) = store.training_pages(session.id, rater.id)
    assert training.reference is not None and len(training.clips) == len(CONDITIONS)
    finish_session(store, session.id, rater.id, score=50)
    assert store.progress(session.id).finished
    store.close()


def test_p835_scale_order_alternates_and_all_three_scales_are_needed(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, make_study(tmp_path, "p835", trapping=0, gold=0), make_stimuli(tmp_path))
    first, second = store.create_rater("test-p835"), store.create_rater("test-p835")
    s1, s2 = store.start_session(first.id), store.start_session(second.id)
    assert s1.scales == ("sig", "bak", "ovrl") and s2.scales == ("bak", "sig", "ovrl")
    page = store.next_page(s1.id, first.id)
    assert page.scales == s1.scales
    clip = page.clips[0]
    store.save_rating(s1.id, first.id, clip.assignment_id, "sig", 4, 3.0, "key-p835-01")
    assert store.next_page(s1.id, first.id).index == 0  # still the same page until all scales are rated
    rate_page(store, s1.id, first.id)
    assert store.next_page(s1.id, first.id).index == 1
    assert store.progress(s1.id).ratings_done == 3
    store.close()


def test_assignment_balances_votes_and_stops_when_full(db_url: str, tmp_path: Path) -> None:
    stimuli = make_stimuli(tmp_path, n_items=4)  # 24 test stimuli
    study = make_study(tmp_path, items_per_session=10, votes_per_stimulus=2, trapping=0, gold=0)
    store = open_store(db_url, study, stimuli)
    counts: dict[tuple[str, str], int] = {}
    for _ in range(4):  # unfinished sessions count too (they are live)
        rater = store.create_rater("test-acr")
        session = store.start_session(rater.id)
        for key in _session_keys(store, session.id):
            counts[key] = counts.get(key, 0) + 1
    assert max(counts.values()) - min(counts.values()) <= 1
    assert len(counts) == 24 and sum(counts.values()) == 40
    rater = store.create_rater("test-acr")
    last = store.start_session(rater.id)
    assert store.progress(last.id).pages_total == 8  # only what is missing to reach 2 votes each
    with pytest.raises(StudyFullError, match="all the ratings it needs"):
        store.start_session(store.create_rater("test-acr").id)
    store.close()


def _session_keys(store: Store, session_id: str, kind: str = "test") -> list[tuple[str, str]]:
    """The (item, condition) planned for a session, read from the assignments table."""
    with store.engine.connect() as conn:
        query = assignments.select().where(assignments.c.session_id == session_id, assignments.c.kind == kind)
        return [(r.item_id, r.condition) for r in conn.execute(query)]


def test_stale_unfinished_sessions_release_their_stimuli(tmp_path: Path) -> None:
    stimuli = make_stimuli(tmp_path, n_items=2)  # 12 test stimuli
    study = make_study(tmp_path, items_per_session=12, votes_per_stimulus=1, trapping=0, gold=0)
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}", study, stimuli, stale_after_s=0)
    abandoned = store.create_rater("test-acr")
    store.start_session(abandoned.id)
    fresh = store.create_rater("test-acr")
    assert store.progress(store.start_session(fresh.id).id).pages_total == 12
    store.close()


def test_study_definition_changes_are_logged_and_protocol_is_fixed(db_url: str, tmp_path: Path) -> None:
    stimuli = make_stimuli(tmp_path)
    study = make_study(tmp_path)
    store = open_store(db_url, study, stimuli)
    store.register_study(study, stimuli)  # unchanged: nothing logged
    changed = replace(study, title="New title", definition={"id": "test-acr", "title": "New title"})
    store.register_study(changed, stimuli)
    kinds = [e["kind"] for e in store.events() if e["study_id"] == "test-acr"]
    assert kinds == ["study_registered", "study_changed"]
    with pytest.raises(StoreError, match="protocol acr"):
        store.register_study(replace(changed, protocol="p835", definition={"p": 1}), stimuli)
    assert store.study_ids() == ["test-acr"]
    store.close()


def test_integrity_check_reports_tampered_rows(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'i.sqlite'}", make_study(tmp_path), make_stimuli(tmp_path))
    rater = store.create_rater("test-acr")
    session = store.start_session(rater.id)
    clip = store.next_page(session.id, rater.id).clips[0]
    with store.engine.begin() as conn:  # bypasses every check of save_rating
        conn.execute(
            insert(ratings).values(
                submission_key="tampered-1",
                session_id=session.id,
                assignment_id=clip.assignment_id,
                scale="ovrl",
                score=9,
                listen_s=1.0,
                created_at=session.started_at,
            )
        )
    problems = store.integrity_check()
    assert any("outside their protocol" in p for p in problems)
    assert any("no 'rating_saved' event" in p for p in problems)
    store.close()


def test_bad_database_urls_are_refused(tmp_path: Path) -> None:
    for url in ("not a url", "mysql://x@y/z", "sqlite://"):
        with pytest.raises(StoreError):
            Store(url)


def test_concurrent_ratings_and_replays_are_stored_exactly_once(db_url: str, tmp_path: Path) -> None:
    study = make_study(tmp_path, items_per_session=6, votes_per_stimulus=50)
    stimuli = make_stimuli(tmp_path)
    stores = [open_store(db_url, study, stimuli), open_store(db_url, study, stimuli)]  # two replicas
    raters = [stores[0].create_rater("test-acr") for _ in range(4)]
    sessions = [stores[i % 2].start_session(r.id) for i, r in enumerate(raters)]
    errors: list[Exception] = []
    results: list[int] = []
    lock = threading.Lock()

    def worker(index: int, copy: int) -> None:
        store, rater, session = stores[(index + copy) % 2], raters[index], sessions[index]
        try:
            while (page := store.next_page(session.id, rater.id)) is not None:
                clip = page.clips[0]
                key = f"conc-{session.id}-{clip.assignment_id}"  # both copies send the same keys
                rating = store.save_rating(
                    session.id, rater.id, clip.assignment_id, "ovrl", 1 + clip.assignment_id % 5, 30.0, key
                )
                with lock:
                    results.append(rating.id)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    run_together(worker, [(i, c) for i in range(4) for c in range(2)])
    assert not errors, errors
    stored = stores[0].list_ratings()
    assert len(stored) == 4 * 8  # 6 clips + trap + gold per session, each stored once
    assert len({r.rating_id for r in stored}) == len(stored)
    assert set(results) == {r.rating_id for r in stored}
    assert all(stores[0].progress(s.id).finished for s in sessions)
    assert stores[1].integrity_check() == []
    for store in stores:
        store.close()


def test_demo_ratings_are_validated_idempotent_and_one_session_per_run(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url, make_study(tmp_path), make_stimuli(tmp_path))

    def demo(
        run: str = "run-1",
        item: str = "lab-run-1_s1",
        condition: str = "sepformer",
        score: object = 4,
        key: str = "demo.run-1.0.1",
    ) -> Rating:
        return store.save_demo_rating(run_id=run, item_id=item, condition=condition, score=score, submission_key=key)

    first = demo()
    assert (first.scale, first.score, first.listen_s) == ("ovrl", 4.0, 0.0)
    assert demo(score=1) == first  # a replay returns the original
    second = demo(item="lab-run-1_s2", key="demo.run-1.0.2", score=2)
    other_run = demo(run="run-2", item="lab-run-2_s1", key="demo.run-2.0.1")
    assert second.session_id == first.session_id != other_run.session_id
    records = store.list_ratings()
    assert [(r.protocol, r.study_id, r.rater_id, r.scale, r.score) for r in records] == [
        ("demo", DEMO_STUDY_ID, DEMO_RATER_ID, "ovrl", 4.0),
        ("demo", DEMO_STUDY_ID, DEMO_RATER_ID, "ovrl", 2.0),
        ("demo", DEMO_STUDY_ID, DEMO_RATER_ID, "ovrl", 4.0),
    ]
    assert [(r.item_id, r.condition) for r in records[:2]] == [
        ("lab-run-1_s1", "sepformer"),
        ("lab-run-1_s2", "sepformer"),
    ]
    assert [e["kind"] for e in store.events(first.session_id)] == ["session_started", "rating_saved", "rating_saved"]
    assert store.study_ids() == [DEMO_STUDY_ID, "test-acr"]
    assert store.integrity_check() == []  # an open-ended demo session is not an unfinished study session
    rater = store.create_rater("test-acr")  # the study itself is unaffected
    assert store.progress(store.start_session(rater.id).id).pages_total == 12
    store.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"score": 0}, "whole number from 1 to 5"),
        ({"score": 6}, "whole number from 1 to 5"),
        ({"score": 3.5}, "whole number from 1 to 5"),
        ({"score": True}, "whole number from 1 to 5"),
        ({"score": float("nan")}, "whole number from 1 to 5"),
        ({"run_id": "r" * 39}, "run id must be 1 to 38"),
        ({"run_id": "run 1"}, "run id must be 1 to 38"),
        ({"run_id": ""}, "run id must be 1 to 38"),
        ({"item_id": "i" * 201}, "item id must be 1 to 200 printable"),
        ({"item_id": ""}, "item id must be 1 to 200 printable"),
        ({"condition": "c" * 65}, "condition must be 1 to 64 printable"),
        ({"condition": "a\nb"}, "condition must be 1 to 64 printable"),
        ({"submission_key": "short"}, "submission key"),
        ({"condition": "mixture", "submission_key": "demo.run-1.9.1"}, "already been rated"),
        ({"run_id": "run-2", "submission_key": "demo.run-1.0.1"}, "another session"),
    ],
)
def test_invalid_demo_ratings_are_refused_with_one_sentence(fields: dict, message: str, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'd.sqlite'}")
    valid = {"run_id": "run-1", "item_id": "lab-run-1_s1", "condition": "mixture", "score": 3}
    store.save_demo_rating(**valid, submission_key="demo.run-1.0.1")
    with pytest.raises(RatingError, match=message) as caught:
        store.save_demo_rating(**{**valid, "submission_key": "demo.run-1.0.2", **fields})
    assert str(caught.value).endswith(".") and "\n" not in str(caught.value)
    assert len(store.list_ratings()) == 1
    assert store.events()[-1]["kind"] == "rating_refused"
    store.close()


def test_concurrent_demo_ratings_of_a_new_run_are_stored_exactly_once(db_url: str) -> None:
    stores = [Store(db_url), Store(db_url)]  # two replicas, the demo study not yet created
    errors: list[Exception] = []
    results: list[int] = []
    lock = threading.Lock()

    def worker(copy: int, talker: int) -> None:
        try:
            rating = stores[copy].save_demo_rating(
                run_id="race",
                item_id=f"lab-race_s{talker}",
                condition="sepformer",
                score=talker,
                submission_key=f"demo.race.0.{talker}",
            )
            with lock:
                results.append(rating.id)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    run_together(worker, [(c, t) for c in range(2) for t in (1, 2, 3)])
    assert not errors, errors
    stored = stores[0].list_ratings()
    assert sorted(r.score for r in stored) == [1.0, 2.0, 3.0] and len({r.session_id for r in stored}) == 1
    assert set(results) == {r.rating_id for r in stored}
    assert stores[1].integrity_check() == []
    for store in stores:
        store.close()
