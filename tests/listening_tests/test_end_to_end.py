"""Store -> screening at export -> analysis and report, for P.835 (P.808 rules) and MUSHRA (BS.1534-3)."""

from __future__ import annotations

import csv
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from listening_tests.export import export_ratings
from listening_tests.report import analyze
from listening_tests.stimuli import StimulusSet
from listening_tests.storage import Store
from tests.listening_tests.test_storage import make_stimuli, make_study, open_store

CONTROL_ANSWERS = {"trap_2": 2, "trap_4": 4, "gold_excellent": 5, "gold_bad": 1}
QUALITY = {  # a careful rater's ACR-like grade of each condition
    "reference": 5,
    "sepformer": 4,
    "sepformer_diffwave": 3,
    "anchor_lp7000": 3,
    "mixture": 2,
    "anchor_lp3500": 1,
}
P835_SHIFT = {"sig": 0, "bak": -1, "ovrl": 0}  # BAK one grade lower than SIG and OVRL (at least 1)
MUSHRA = {"reference": 100, "sepformer": 75, "sepformer_diffwave": 55, "anchor_lp7000": 45, "mixture": 35}
MUSHRA["anchor_lp3500"] = 15
N_BOOT = 200
Answer = Callable[[str, str, int], float]  # (condition, scale, page index) -> score


def condition_of(path: Path) -> str:
    """The condition of a make_stimuli clip (`mix0_s1_sepformer.wav`, or `trap_2.wav` for a control)."""
    return path.stem if path.stem in CONTROL_ANSWERS else path.stem.split("_", 2)[2]


def take_session(store: Store, study_id: str, answer: Answer) -> str:
    """A new rater's whole session, every clip played to the end; returns the rater id."""
    rater = store.create_rater(study_id)
    session = store.start_session(rater.id)
    while (page := store.next_page(session.id, rater.id)) is not None:
        for clip in page.clips:
            for scale in page.scales:
                score = answer(condition_of(clip.path), scale, page.index)
                key = f"k-{session.id}-{clip.assignment_id}-{scale}"
                store.save_rating(session.id, rater.id, clip.assignment_id, scale, score, 10.0, key)
    return rater.id


def write_manifest(stimuli: StimulusSet, path: Path) -> Path:
    """A manifest.csv for the analysis: every stimulus with an SI-SDR that follows its quality."""
    rows = [
        {"item_id": i, "condition": c, "path": f"{i}_{c}.wav", "si_sdr": 4.0 * QUALITY.get(c, 0)}
        for i, c in stimuli.stimuli
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def p835_answer(trap_wrong: bool = False) -> Answer:
    def answer(condition: str, scale: str, _page: int) -> float:
        if condition in CONTROL_ANSWERS:
            right = CONTROL_ANSWERS[condition]
            return (6 - right if right != 3 else 1) if trap_wrong and condition.startswith("trap_") else right
        return max(1, QUALITY[condition] + P835_SHIFT[scale])

    return answer


@pytest.mark.slow  # nine plots
def test_p835_screening_analysis_and_report(tmp_path: Path) -> None:
    stimuli = make_stimuli(tmp_path)
    study = make_study(tmp_path, "p835", votes_per_stimulus=20)
    store = open_store(f"sqlite:///{tmp_path / 'ratings.sqlite'}", study, stimuli)
    careful = [take_session(store, study.id, p835_answer()) for _ in range(3)]
    inattentive = take_session(store, study.id, p835_answer(trap_wrong=True))
    assert export_ratings(store, tmp_path / "ratings.csv") == 4 * 12 * 3  # 10 clips + trap + gold, 3 scales
    store.close()

    rows = read_rows(tmp_path / "ratings.csv")
    assert {r["scale"] for r in rows} == {"sig", "bak", "ovrl"}
    theirs = [r for r in rows if r["rater_id"] == inattentive]
    assert len(theirs) == 36 and all(r["excluded"] == "true" for r in theirs)
    assert all("failed a trapping clip" in r["exclusion_reason"] for r in theirs)
    kept = [r for r in rows if r["rater_id"] in careful and not r["condition"].startswith(("trap_", "gold_"))]
    assert len(kept) == 90 and all(r["excluded"] == "false" for r in kept)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the report's plots and tables raise no numpy warning either
        result = analyze(
            tmp_path / "ratings.csv",
            write_manifest(stimuli, tmp_path / "manifest.csv"),
            tmp_path / "out",
            n_boot=N_BOOT,
        )
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert set(summary["protocol"]) == {"p835"} and set(summary["scale"]) == {"sig", "bak", "ovrl"}
    for scale, rows_of_scale in summary.groupby("scale"):
        assert rows_of_scale["n_ratings"].sum() == 30  # 3 careful raters x 10 clips; none of the inattentive
        for row in rows_of_scale.itertuples():
            assert row.mean == max(1, QUALITY[row.condition] + P835_SHIFT[scale])
    assert (result.counts.raters, result.counts.raters_retained) == (4, 3)
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "90 ratings from 3 raters" in report and all(f"p835 / {s}" in report for s in ("sig", "bak", "ovrl"))


def mushra_answer(low_reference_pages: int = 0) -> Answer:
    def answer(condition: str, _scale: str, page: int) -> float:
        return 80.0 if condition == "reference" and page < low_reference_pages else MUSHRA[condition]

    return answer


def mushra_store(tmp_path: Path, screening: dict | None = None) -> tuple[Store, StimulusSet, list[str], str]:
    """Two careful listeners and one who rates the hidden reference 80 on 1 of 6 items (17 %)."""
    stimuli = make_stimuli(tmp_path)
    definition = {"id": "test-mushra"} | ({"screening": screening} if screening else {})
    study = make_study(tmp_path, "mushra", items_per_session=6, votes_per_stimulus=10, definition=definition)
    store = open_store(f"sqlite:///{tmp_path / 'ratings.sqlite'}", study, stimuli)
    careful = [take_session(store, study.id, mushra_answer()) for _ in range(2)]
    return store, stimuli, careful, take_session(store, study.id, mushra_answer(low_reference_pages=1))


def test_mushra_post_screening_store_export_analysis(tmp_path: Path) -> None:
    store, stimuli, careful, doubtful = mushra_store(tmp_path)
    assert export_ratings(store, tmp_path / "ratings.csv") == 3 * 6 * 6
    store.close()
    rows = read_rows(tmp_path / "ratings.csv")
    theirs = [r for r in rows if r["rater_id"] == doubtful]
    reason = "hidden reference rated below 90 on 17% of items (more than 15%)"
    assert len(theirs) == 36 and all(r["excluded"] == "true" and r["exclusion_reason"] == reason for r in theirs)
    assert all(r["excluded"] == "false" for r in rows if r["rater_id"] in careful)

    result = analyze(
        tmp_path / "ratings.csv", write_manifest(stimuli, tmp_path / "manifest.csv"), tmp_path / "out", n_boot=N_BOOT
    )
    summary = result.summary.set_index("condition")
    assert set(summary.index) == set(MUSHRA) and (summary["n_raters"] == 2).all()
    assert (summary["n_ratings"] == 12).all()  # 2 listeners x 6 items
    assert summary["mean"].to_dict() == {c: float(s) for c, s in MUSHRA.items()}  # no 80 from the excluded
    assert result.counts.exclusion_reasons == {reason: 36}


def test_mushra_share_limit_comes_from_the_study_file(tmp_path: Path) -> None:
    store, _, _, doubtful = mushra_store(tmp_path, screening={"max_share": 0.2})
    export_ratings(store, tmp_path / "ratings.csv")
    store.close()
    theirs = [r for r in read_rows(tmp_path / "ratings.csv") if r["rater_id"] == doubtful]
    assert len(theirs) == 36 and all(r["excluded"] == "false" for r in theirs)  # 17 % is within 20 %
