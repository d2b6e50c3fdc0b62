"""Study files: the shipped examples load, and every problem of a bad file is reported at once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from ddpmss.settings import PIPELINES, PROJECT_DIR
from listening_tests.protocols import DEFAULT_INSTRUCTIONS, MushraOptions, ScreeningRules, default_consent
from listening_tests.study import (
    BuildConfig,
    StudyError,
    anchor_cutoffs,
    build_conditions,
    check_conditions,
    load_study,
)

STUDIES = PROJECT_DIR / "studies"


def write(tmp_path: Path, data: object, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def minimal(tmp_path: Path, **changes: object) -> dict:
    mixtures = tmp_path / "mixtures.csv"
    mixtures.write_text("mixture_ID,mixture_path,source_1_path,source_2_path,length\n", encoding="utf-8")
    data = {
        "id": "mini",
        "title": "Mini",
        "protocol": "acr",
        "stimuli": {"dir": "stim", "build": {"mixtures": "mixtures.csv"}},
    }
    data.update(changes)
    return data


def test_example_studies_load() -> None:
    acr = load_study(STUDIES / "example.yaml")
    assert acr.protocol == "acr" and acr.scales == ("ovrl",) and acr.score_range == (1, 5)
    assert acr.manifest == (PROJECT_DIR / "data" / "stimuli" / "example" / "manifest.csv").resolve()
    assert acr.build is not None and acr.build.mixtures == (PROJECT_DIR / "examples" / "examples.csv").resolve()
    assert acr.build.excerpt_s <= 10 and acr.build.fade_ms == 5 and acr.build.target_lufs == -26
    assert (acr.items_per_session, acr.trapping, acr.gold) == (10, 1, 1)
    assert "pseudonymous" in acr.consent and "store" in acr.consent
    mushra = load_study(STUDIES / "example_mushra.yaml")
    assert mushra.protocol == "mushra" and "reference" in mushra.conditions and len(mushra.conditions) <= 12
    assert (mushra.trapping, mushra.gold) == (0, 0)
    p835 = load_study(STUDIES / "example_p835.yaml")
    assert p835.scales == ("sig", "bak", "ovrl")
    assert acr.build == mushra.build  # they share one stimulus set; P.835's has traps worded for its scales
    assert p835.build == replace(acr.build, trap_scales=("sig", "bak", "ovrl")) and p835.manifest != acr.manifest
    ccr = load_study(STUDIES / "example_ccr.yaml")
    assert ccr.protocol == "ccr" and len(ccr.pairs) == 3 and (ccr.trapping, ccr.gold) == (0, 0)
    assert ccr.build == acr.build and ccr.manifest == acr.manifest  # the ACR study's stimuli serve it as built


def test_minimal_study_gets_defaults(tmp_path: Path) -> None:
    study = load_study(write(tmp_path, minimal(tmp_path)))
    assert study.build == BuildConfig(mixtures=(tmp_path / "mixtures.csv").resolve())
    assert study.build.pipelines == PIPELINES and study.build.anchors is None
    assert study.conditions is None and study.manifest == (tmp_path / "stim" / "manifest.csv").resolve()
    assert study.consent == default_consent(False) and study.instructions == DEFAULT_INSTRUCTIONS["acr"]
    assert "participant id" in default_consent(True)


def test_screening_defaults_are_p808_and_bs1534(tmp_path: Path) -> None:
    rules = load_study(write(tmp_path, minimal(tmp_path))).screening
    assert (rules.min_variance, rules.trapping_excludes, rules.gold_excludes) == (0.1, True, True)
    assert (rules.reference_min, rules.anchor_max, rules.max_share) == (90.0, 90.0, 0.15)


def test_screening_thresholds_are_set_in_the_study_file(tmp_path: Path) -> None:
    section = {"min_variance": 0.2, "gold_excludes": False, "reference_min": 80, "max_share": 0.25}
    study = load_study(write(tmp_path, minimal(tmp_path, screening=section)))
    assert study.screening == ScreeningRules(min_variance=0.2, gold_excludes=False, reference_min=80.0, max_share=0.25)


def test_mushra_panel_options_default_to_keeping_the_position_and_looping(tmp_path: Path) -> None:
    assert load_study(STUDIES / "example_mushra.yaml").mushra == MushraOptions("keep", True, False)
    section = {"switching": "restart", "loop": False, "exclusive_sliders": True}
    mushra = {"protocol": "mushra", "trapping": 0, "gold": 0, "mushra": section}
    study = load_study(write(tmp_path, minimal(tmp_path, **mushra)))
    assert study.mushra == MushraOptions(switching="restart", loop=False, exclusive_sliders=True)


def test_bad_mushra_panel_options_are_named(tmp_path: Path) -> None:
    section = {"switching": "jump", "loop": "on", "exclusive_slider": True}
    with pytest.raises(StudyError) as caught:
        load_study(write(tmp_path, minimal(tmp_path, mushra=section)))
    text = str(caught.value)
    assert "the mushra section applies to protocol mushra only (this study is acr)" in text
    assert "mushra.switching must be keep or restart (got 'jump')" in text
    assert "mushra.loop must be true or false (got 'on')" in text
    assert "unknown field 'mushra.exclusive_slider' (did you mean 'exclusive_sliders'?)" in text


def test_bad_screening_values_are_named(tmp_path: Path) -> None:
    section = {"max_share": 15, "trapping_excludes": "yes", "min_varianse": 0.2}
    with pytest.raises(StudyError) as caught:
        load_study(write(tmp_path, minimal(tmp_path, screening=section)))
    text = str(caught.value)
    assert "screening.max_share must be a number from 0 to 1 (got 15)" in text
    assert "screening.trapping_excludes must be true or false (got 'yes')" in text
    assert "unknown field 'screening.min_varianse' (did you mean 'min_variance'?)" in text


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = minimal(
        tmp_path,
        id="Bad Id!",
        protocol="mushra",
        trapping=2,
        items_per_sesion=3,
        conditions=["reference", "trap_1", "unknown_system"],
    )
    data["stimuli"]["build"].update(excerpt_s=12, pipelines=["sepformer", "magic"], anchors="some")
    del data["title"]
    with pytest.raises(StudyError) as caught:
        load_study(write(tmp_path, data))
    problems = caught.value.problems
    text = " | ".join(problems)
    for expected in (
        "id must be lower-case",
        "title is missing",
        "unknown field 'items_per_sesion' (did you mean 'items_per_session'?)",
        "stimuli.build.excerpt_s must be a number from 1 to 10",
        "unknown pipeline 'magic'",
        "stimuli.build.anchors must be",
        "'trap_1'",
        "set trapping and gold to 0",
        "unknown_system",
    ):
        assert expected in text, expected
    assert len(problems) >= 9
    assert "\n" not in str(caught.value) and str(caught.value).startswith("The study file")


def test_mushra_limits_conditions_and_needs_the_hidden_reference(tmp_path: Path) -> None:
    data = minimal(tmp_path, protocol="mushra", conditions=["mixture", "sepformer"])
    with pytest.raises(StudyError, match="add 'reference' to conditions"):
        load_study(write(tmp_path, data))
    data = minimal(tmp_path, protocol="mushra")
    data["stimuli"]["build"]["anchors"] = [1000 * k for k in range(1, 12)]
    with pytest.raises(StudyError, match="at most 12 conditions"):
        load_study(write(tmp_path, data))


@pytest.mark.parametrize(
    ("text", "message"),
    [("id: [unclosed", "not valid YAML"), ("- a\n- b\n", "must be a mapping")],
)
def test_unreadable_files_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(StudyError, match=message):
        load_study(write(tmp_path, text))
    with pytest.raises(StudyError, match="does not exist"):
        load_study(tmp_path / "missing.yaml")


def test_stimuli_section_rules(tmp_path: Path) -> None:
    data = minimal(tmp_path, stimuli={"manifest": "built/manifest.csv"})
    with pytest.raises(StudyError, match="does not exist and there is no build section"):
        load_study(write(tmp_path, data))
    (tmp_path / "built").mkdir()
    (tmp_path / "built" / "manifest.csv").write_text("item_id\n", encoding="utf-8")
    assert load_study(write(tmp_path, data)).stimulus_dir == (tmp_path / "built").resolve()
    data = minimal(tmp_path, stimuli={"dir": "a", "manifest": "built/manifest.csv"})
    with pytest.raises(StudyError, match="either dir or manifest"):
        load_study(write(tmp_path, data))
    data = minimal(tmp_path)
    data["stimuli"]["build"]["mixtures"] = "nowhere.csv"
    with pytest.raises(StudyError, match="nowhere.csv does not exist"):
        load_study(write(tmp_path, data))


def test_anchors_follow_the_material_rate() -> None:
    config = BuildConfig(include_mixture=False, pipelines=("sepformer",))
    assert anchor_cutoffs(config, 16000) == ((3500, 7000), None)
    cutoffs, note = anchor_cutoffs(config, 8000)
    assert cutoffs == (2000,) and "narrow-band" in note and "mixture" in note
    assert build_conditions(config, 16000) == ("reference", "anchor_lp3500", "anchor_lp7000", "sepformer")
    assert build_conditions(config, 8000) == ("reference", "mixture", "anchor_lp2000", "sepformer")
    assert anchor_cutoffs(BuildConfig(anchors=(4000,)), 8000) == ((4000,), None)


def test_conditions_are_checked_against_the_built_set(tmp_path: Path) -> None:
    study = load_study(write(tmp_path, minimal(tmp_path, conditions=["reference", "sepformer"])))
    assert check_conditions(study, ["reference", "sepformer", "trap_2"]) == ("reference", "sepformer")
    with pytest.raises(StudyError, match="'sepformer' is not in the stimulus set"):
        check_conditions(study, ["reference", "mixture"])
    every = load_study(write(tmp_path, minimal(tmp_path)))
    assert check_conditions(every, ["reference", "mixture", "gold_bad"]) == ("reference", "mixture")


def test_crowdsourcing_fields_default_to_prolific_and_mturk_and_are_read(tmp_path: Path) -> None:
    plain = load_study(write(tmp_path, minimal(tmp_path)))
    assert (plain.participant_params, plain.completion_url, plain.quota) == (("PROLIFIC_PID", "workerId"), "", 0)
    url = "https://app.prolific.com/submissions/complete?cc={code}"
    fields = {"ask_participant_id": True, "participant_params": ["PID"], "completion_url": url, "quota": 40}
    crowd = load_study(write(tmp_path, minimal(tmp_path, **fields)))
    assert (crowd.participant_params, crowd.completion_url, crowd.quota) == (("PID",), url, 40)


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"completion_url": "https://example.org/done"}, "completion_url must be an http(s) address with {code}"),
        ({"completion_url": "ftp://example.org/{code}"}, "completion_url must be an http(s) address with {code}"),
        ({"completion_url": "https://x.org/{code}?p={pid}"}, "completion_url must be an http(s) address with {code}"),
        ({"quota": -1}, "quota must be a whole number from 0 to 1000000"),
        ({"ask_participant_id": True, "participant_params": []}, "participant_params must list 1 to 10"),
        ({"ask_participant_id": True, "participant_params": ["a b"]}, "not valid: 'a b'"),
        ({"participant_params": ["PID"]}, "participant_params is set but ask_participant_id is false"),
    ],
)
def test_wrong_crowdsourcing_fields_are_one_sentence_each(tmp_path: Path, fields: dict, expected: str) -> None:
    with pytest.raises(StudyError) as caught:
        load_study(write(tmp_path, minimal(tmp_path, **fields)))
    (problem,) = caught.value.problems
    assert expected in problem and "\n" not in problem
