"""Screening: P.808 rules per ACR/P.835 session, BS.1534-3 post-screening per MUSHRA listener."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from listening_tests.screening import CONTROL_REASON, mushra_reasons, p808_reasons, screen

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
    assert p808_reasons(acr_session(listen_s=3.9)) == ["not every clip was played to the end"]
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
