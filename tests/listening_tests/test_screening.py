"""Screening: P.808 rules per ACR/P.835 session, BS.1534-3 post-screening per MUSHRA listener."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from listening_tests.protocols import ScreeningRules
from listening_tests.screening import (
    CONTROL_REASON,
    RaterStatus,
    mushra_reasons,
    p808_reasons,
    rater_status,
    screen,
)

_ids = itertools.count(1)


def rating(**fields: object) -> SimpleNamespace:
    base = {
        "rating_id": next(_ids),
        "rater_id": "r_1",
        "session_id": "s_1",
        "study_id": "study",
        "protocol": "acr",
        "item_id": "mix0_s1",
        "condition": "sepformer",
        "kind": "test",
        "scale": "ovrl",
        "score": 3.0,
        "listen_s": 5.0,
        "duration_s": 4.0,
        "expected_score": None,
        "tolerance": None,
        "session_finished": True,
        "screening": ScreeningRules(),
        "qualification_reasons": (),
    }
    base.update(fields)
    return SimpleNamespace(**base)


def acr_session(session_id: str = "s_1", trap: float = 2, gold: float = 5, **test_fields: object) -> list:
    tests = [rating(session_id=session_id, score=s, **test_fields) for s in (1, 2, 3, 4, 5, 3)]
    return tests + [
        rating(session_id=session_id, condition="trap_2", kind="trap", score=trap, expected_score=2, tolerance=0),
        rating(
            session_id=session_id, condition="gold_excellent", kind="gold", score=gold, expected_score=5, tolerance=1
        ),
    ]


def test_a_good_session_keeps_its_ratings_and_flags_the_control_clips() -> None:
    records = acr_session()
    reasons = screen(records)
    assert [reasons[r.rating_id] for r in records[:6]] == [""] * 6
    assert reasons[records[6].rating_id] == reasons[records[7].rating_id] == CONTROL_REASON


def test_gold_tolerance_is_plus_minus_one() -> None:
    assert p808_reasons(acr_session(gold=4)) == []
    assert p808_reasons(acr_session(gold=3)) == ["failed a gold clip"]


def test_each_p808_rule_excludes_the_whole_session() -> None:
    assert p808_reasons(acr_session(trap=3)) == ["failed a trapping clip"]
    flat = [rating(score=3) for _ in range(6)]
    assert p808_reasons(flat) == ["rating variance below 0.1"]
    nearly_flat = [rating(score=3) for _ in range(9)] + [rating(score=4)]  # sample variance 0.1, population 0.09
    assert p808_reasons(nearly_flat) == []  # P.808's toolkit takes the sample variance
    assert p808_reasons(acr_session(listen_s=3.7)) == ["not every clip was played to the end"]
    assert p808_reasons(acr_session(session_finished=False)) == ["session not finished"]
    bad, good = acr_session("s_bad", trap=5), acr_session("s_good")
    reasons = screen(bad + good)
    assert all("failed a trapping clip" in reasons[r.rating_id] for r in bad)
    assert all("failed" not in reasons[r.rating_id] for r in good)  # the same rater's other session stays


def test_several_reasons_are_joined() -> None:
    records = acr_session(trap=5, gold=1)
    reason = screen(records)[records[0].rating_id]
    assert reason == "failed a trapping clip; failed a gold clip"


def mushra_listener(rater: str, reference: list[float], mid: list[float], mid_condition: str = "anchor_lp7000"):
    records = []
    for k, (ref, anchor) in enumerate(zip(reference, mid, strict=True)):
        item = f"item{k}"
        records += [
            rating(protocol="mushra", scale="mushra", rater_id=rater, item_id=item, condition="reference", score=ref),
            rating(
                protocol="mushra", scale="mushra", rater_id=rater, item_id=item, condition=mid_condition, score=anchor
            ),
            rating(protocol="mushra", scale="mushra", rater_id=rater, item_id=item, condition="sepformer", score=60),
        ]
    return records


def test_mushra_hidden_reference_rule() -> None:
    good = mushra_listener("r_good", [100, 95, 90, 100, 98, 100, 100], [60] * 7)
    one_slip = mushra_listener("r_slip", [100, 80, 100, 100, 100, 100, 100], [60] * 7)  # 1/7 = 14 %
    careless = mushra_listener("r_bad", [100, 80, 85, 100, 100, 100, 100], [60] * 7)  # 2/7 = 29 %
    reasons = screen(good + one_slip + careless)
    assert all(reasons[r.rating_id] == "" for r in good + one_slip)
    assert all("hidden reference rated below 90 on 29% of items" in reasons[r.rating_id] for r in careless)


def test_mushra_mid_anchor_rule_and_narrow_band_mixture() -> None:
    records = mushra_listener("r_1", [100] * 5, [95, 92, 50, 50, 50])
    assert mushra_reasons(records, mid_anchor="anchor_lp7000") == [
        "mid anchor (anchor_lp7000) rated above 90 on 40% of items (more than 15%)"
    ]
    narrow = mushra_listener("r_2", [100] * 5, [95, 92, 50, 50, 50], mid_condition="mixture")
    assert "mid anchor (mixture)" in screen(narrow)[narrow[0].rating_id]
    assert all(r.kind == "test" for r in narrow) and CONTROL_REASON not in screen(narrow).values()


def test_listen_time_slack_is_a_quarter_second_by_default() -> None:
    assert p808_reasons(acr_session(listen_s=3.75)) == []  # duration 4.0 - 0.25: counts as played fully
    assert p808_reasons(acr_session(listen_s=3.74)) == ["not every clip was played to the end"]
    strict = ScreeningRules(listen_slack_s=0.0)
    assert p808_reasons(acr_session(listen_s=3.75), strict) == ["not every clip was played to the end"]
    assert p808_reasons(acr_session(listen_s=4.0), strict) == []


def demo_rating(**fields: object) -> SimpleNamespace:
    base = {"protocol": "demo", "study_id": "_demo", "rater_id": "r_demo", "session_id": "d_run1", "kind": "demo"}
    return rating(**base, listen_s=0.0, duration_s=0.0, session_finished=False, **fields)


def test_demo_ratings_are_never_screened() -> None:
    demo = [demo_rating(score=4), demo_rating(score=4)]  # unfinished, unplayed and flat, yet kept
    unfinished = acr_session("s_open", session_finished=False)
    reasons = screen(demo + unfinished)
    assert [reasons[r.rating_id] for r in demo] == ["", ""]
    assert all("session not finished" in reasons[r.rating_id] for r in unfinished)


def by(rater_id: str, records: list) -> list:
    for r in records:
        r.rater_id = rater_id
    return records


def test_rater_status_counts_and_explains_without_control_clips() -> None:
    careful = by("r_a", acr_session("s_a"))
    lazy = by("r_b", acr_session("s_b", trap=5))
    mixed = by("r_c", acr_session("s_c1") + acr_session("s_c2", gold=1))
    statuses = rater_status(careful + [demo_rating()] + lazy + mixed)
    assert statuses == [
        RaterStatus("r_a", sessions=1, ratings=8, excluded=2, reasons=""),
        RaterStatus("r_b", sessions=1, ratings=8, excluded=8, reasons="failed a trapping clip"),
        RaterStatus("r_c", sessions=2, ratings=16, excluded=10, reasons="failed a gold clip"),
    ]
    assert [s.status for s in statuses] == ["kept", "excluded", "partly excluded"]


def test_a_p835_trap_is_checked_on_every_scale_it_names() -> None:
    session = acr_session()
    for scale, score in (("sig", 4), ("bak", 2)):  # told "the answer 2 on every scale"; SIG answered 4
        session.append(rating(condition="trap_2", kind="trap", scale=scale, score=score, expected_score=2, tolerance=0))
    assert p808_reasons(session) == ["failed a trapping clip"]
    assert p808_reasons([r for r in session if r.scale != "sig"]) == []


def test_answers_before_the_test_exclude_every_rating_of_the_rater() -> None:
    failed = ("failed the headphone check",)
    records = [*acr_session("s_1", qualification_reasons=failed), *acr_session("s_2", rater_id="r_2")]
    reasons = screen(records)
    assert all("failed the headphone check" in reasons[r.rating_id] for r in records[:6])
    assert not any(reasons[r.rating_id] for r in records[8:] if r.kind == "test")
    mushra = [rating(protocol="mushra", scale="mushra", condition="reference", score=100, qualification_reasons=failed)]
    assert screen(mushra)[mushra[0].rating_id] == "failed the headphone check"
