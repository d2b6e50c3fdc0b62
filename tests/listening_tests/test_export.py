"""ratings.csv export (exact columns, screening flags, UTC times) and the command line's error handling."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from listening_tests.__main__ import main
from listening_tests.export import RATINGS_COLUMNS, export_ratings
from tests.listening_tests.test_storage import finish_session, make_stimuli, make_study, open_store
from tests.support.paths import ROOT


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture()
def db(tmp_path: Path) -> str:
    """A SQLite database with one careful rater and one who answers 5 everywhere (fails the trap)."""
    url = f"sqlite:///{tmp_path / 'ratings.sqlite'}"
    store = open_store(url, make_study(tmp_path), make_stimuli(tmp_path))
    careful = store.create_rater("test-acr")
    session = store.start_session(careful.id)
    while (page := store.next_page(session.id, careful.id)) is not None:
        clip = page.clips[0]
        expected = {"trap_2": 2, "trap_4": 4, "gold_excellent": 5, "gold_bad": 1}
        condition = next((c for c in expected if clip.path.name.startswith(c)), None)
        score = expected[condition] if condition else 1 + page.index % 5
        store.save_rating(
            session.id, careful.id, clip.assignment_id, "ovrl", score, 10.0, f"k-{session.id}-{page.index}"
        )
    lazy = store.create_rater("test-acr")
    finish_session(store, store.start_session(lazy.id).id, lazy.id, score=5)
    store.close()
    return url


def test_export_writes_exact_columns_and_screening(db: str, tmp_path: Path) -> None:
    from listening_tests.storage import Store

    store = Store(db)
    out = tmp_path / "out" / "ratings.csv"
    assert export_ratings(store, out) == 24
    columns, rows = read_csv(out)
    assert tuple(columns) == RATINGS_COLUMNS
    assert {r["protocol"] for r in rows} == {"acr"} and {r["scale"] for r in rows} == {"ovrl"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["created_at"]) for r in rows)
    assert all(r["score"] in {"1", "2", "3", "4", "5"} and r["listen_s"] == "10.000" for r in rows)
    careful = [r for r in rows if r["rater_id"] == rows[0]["rater_id"]]  # rated first
    lazy = [r for r in rows if r["rater_id"] != rows[0]["rater_id"]]
    kept = [r for r in careful if r["excluded"] == "false"]
    assert len(kept) == 10 and all(r["exclusion_reason"] == "" for r in kept)
    controls = [r for r in careful if r["condition"].startswith(("trap_", "gold_"))]
    assert len(controls) == 2 and all(r["excluded"] == "true" for r in controls)
    assert all(r["excluded"] == "true" and "failed a trapping clip" in r["exclusion_reason"] for r in lazy)
    assert export_ratings(store, tmp_path / "none.csv", study_id="other") == 0
    store.close()


def test_cli_export(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.csv"
    assert main(["export", "--db", db, "--out", str(out)]) == 0
    assert "24 ratings written" in capsys.readouterr().out
    assert len(read_csv(out)[1]) == 24
    assert main(["export", "--db", db, "--out", str(out), "--study", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "error: The database has no study 'nope'."


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (
            ["export", "--db", "mysql://u@h/db", "--out", "x.csv"],
            "'mysql://u@h/db' is not supported: use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB.",
        ),
        (
            ["analyze", "missing.csv", "--manifest", "missing_manifest.csv", "--out", "rep"],
            "The file missing.csv does not exist.",
        ),
        (
            ["build", "--mixtures", "does/not/exist.csv", "--out", "stim"],
            "The mixture list 'does/not/exist.csv' does not exist.",
        ),
        (["build"], "Give --mixtures and --out (or a --study whose build section names them)."),
        (
            ["validate", "no_such_study.yaml"],
            "The study file no_such_study.yaml has 1 problem(s): the file does not exist or cannot be read.",
        ),
        (["check", "--db", "postgresql://"], "The database postgresql+psycopg:// cannot be opened: *."),
    ],
)
def test_cli_errors_are_one_line_without_traceback(
    argv: list[str],
    sentence: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each bad input gets its own sentence (`*` stands for the database driver's own reason)."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    pattern = re.escape(f"error: {sentence}").replace(re.escape("*"), ".+")
    assert re.fullmatch(pattern, err.strip()), err


def test_cli_check_and_validate(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--db", db]) == 0
    assert "database consistent" in capsys.readouterr().out
    assert main(["validate", str(ROOT / "studies" / "example.yaml")]) == 0
    assert "example-acr: valid" in capsys.readouterr().out


def test_demo_ratings_are_exported_as_protocol_demo_and_kept(db: str, tmp_path: Path) -> None:
    from listening_tests.storage import DEMO_RATER_ID, DEMO_STUDY_ID, Store

    store = Store(db)
    store.save_demo_rating(
        run_id="run1", item_id="lab-run1_s2", condition="sepformer_diffwave", score=4, submission_key="demo.run1.1.2.4"
    )
    assert export_ratings(store, tmp_path / "all.csv") == 25
    demo = [r for r in read_csv(tmp_path / "all.csv")[1] if r["protocol"] == "demo"]
    assert [(r["rater_id"], r["item_id"], r["condition"], r["scale"], r["score"], r["excluded"]) for r in demo] == [
        (DEMO_RATER_ID, "lab-run1_s2", "sepformer_diffwave", "ovrl", "4", "false")
    ]
    assert demo[0]["session_id"] == "d_run1" and demo[0]["exclusion_reason"] == ""
    assert export_ratings(store, tmp_path / "demo.csv", study_id=DEMO_STUDY_ID) == 1
    store.close()
