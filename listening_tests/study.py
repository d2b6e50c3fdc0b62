"""A study: one YAML file saying what is tested, how, and how the stimulus set is made.

`load_study(path)` validates the whole file and reports every problem at once in one `StudyError`.
Relative paths in the file are read relative to the file's folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ddpmss.settings import PIPELINES
from listening_tests.conditions import (
    MIXTURE,
    NARROWBAND_ANCHORS,
    REFERENCE,
    WIDEBAND_ANCHORS,
    anchor_condition,
    is_check,
)
from listening_tests.pairs import Pair, pair_problems, parse_pairs
from listening_tests.protocols import (
    COMPARISON_PROTOCOLS,
    DEFAULT_INSTRUCTIONS,
    MAX_MUSHRA_CONDITIONS,
    PROTOCOLS,
    SCALES,
    SCORE_RANGE,
    SWITCHING,
    MushraOptions,
    ScreeningRules,
    default_consent,
)
from listening_tests.qualification import BeforeTest, parse_before_test
from listening_tests.yaml_fields import FieldReader, unknown_keys

MAX_EXCERPT_S = 10.0

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CONDITION_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
_PARAM_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
PARTICIPANT_PARAMS = ("PROLIFIC_PID", "workerId")  # Prolific's and MTurk's participant id in the study link
CODE_FIELD = "{code}"  # where completion_url takes the completion code
_TOP_KEYS = (
    "id",
    "title",
    "purpose",
    "protocol",
    "stimuli",
    "conditions",
    "items_per_session",
    "votes_per_stimulus",
    "trapping",
    "gold",
    "training_items",
    "consent",
    "instructions",
    "completion_code_prefix",
    "ask_participant_id",
    "participant_params",
    "completion_url",
    "quota",
    "screening",
    "mushra",
    "before_test",
    "pairs",
    "no_preference",
)
_STIMULI_KEYS = ("dir", "manifest", "build")


class StudyError(ValueError):
    """A study file that cannot be used; the message lists every problem in plain words."""

    def __init__(self, path: Path | str, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listed = "; ".join(self.problems)
        super().__init__(f"The study file {path} has {len(self.problems)} problem(s): {listed}.")


@dataclass(frozen=True)
class BuildConfig:
    """How a stimulus set is built from mixtures (the `stimuli.build` section of a study)."""

    mixtures: Path | None = None
    excerpt_s: float = MAX_EXCERPT_S
    fade_ms: float = 5.0
    target_lufs: float = -26.0
    pipelines: tuple[str, ...] = PIPELINES
    anchors: tuple[int, ...] | None = None  # None: chosen from the material's rate (see anchor_cutoffs)
    include_mixture: bool = True
    trap_clips: int = 5
    gold_clips: int = 2
    with_dnsmos: bool = True
    voice: str = "espeak-us-f2"  # ddpmss.corpus.voices voice of the spoken trapping message
    trap_scales: tuple[str, ...] = ("ovrl",)  # the scales a trapping message names (P.835: SIG, BAK, OVRL)

    def fingerprint(self) -> dict[str, Any]:
        """The settings that shape the stimuli (a resumed build must use the same)."""
        return {
            "excerpt_s": self.excerpt_s,
            "fade_ms": self.fade_ms,
            "target_lufs": self.target_lufs,
            "pipelines": list(self.pipelines),
            "anchors": list(self.anchors) if self.anchors is not None else "auto",
            "include_mixture": self.include_mixture,
            "trap_clips": self.trap_clips,
            "gold_clips": self.gold_clips,
            "with_dnsmos": self.with_dnsmos,
            "voice": self.voice,
            "trap_scales": list(self.trap_scales),
        }


def anchor_cutoffs(config: BuildConfig, sample_rate: int) -> tuple[tuple[int, ...], str | None]:
    """Low-pass anchor cut-offs for material at `sample_rate`, plus a note when narrow-band rules apply."""
    if config.anchors is not None:
        return config.anchors, None
    if sample_rate < 16000:
        note = (
            f"The material is narrow-band ({sample_rate} Hz), so the anchors are the mixture and a 2 kHz "
            "low-pass of the reference instead of the 3.5 kHz and 7 kHz low-passes of BS.1534-3."
        )
        return NARROWBAND_ANCHORS, note
    return WIDEBAND_ANCHORS, None


@dataclass(frozen=True)
class Study:
    """A validated study definition."""

    id: str
    title: str
    protocol: str
    path: Path
    manifest: Path
    build: BuildConfig | None = None
    conditions: tuple[str, ...] | None = None  # None: every non-control condition of the stimulus set
    items_per_session: int = 10
    votes_per_stimulus: int = 8
    trapping: int = 1
    gold: int = 1
    training_items: int = 1
    purpose: str = ""  # shown on the introduction page ('' : the app's default sentence)
    consent: str = ""
    instructions: str = ""
    completion_code_prefix: str = ""
    ask_participant_id: bool = False
    participant_params: tuple[str, ...] = PARTICIPANT_PARAMS  # URL parameters read for the participant id
    completion_url: str = ""  # where a finished rater is sent back, with {code} for the completion code
    quota: int = 0  # completed sessions after which new visitors are turned away (0: no limit)
    screening: ScreeningRules = ScreeningRules()
    mushra: MushraOptions = MushraOptions()
    before_test: BeforeTest = BeforeTest()  # headphone check and P.808 questions (listening_tests.qualification)
    # Comparison studies (CCR, A/B; listening_tests.pairs): the pairs compared, and A/B's third answer.
    pairs: tuple[Pair, ...] | None = None  # None: every pair of the shown processed conditions
    no_preference: bool = False
    definition: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def scales(self) -> tuple[str, ...]:
        """Rating scales of the protocol (P.835: SIG and BAK order is set per session)."""
        return SCALES[self.protocol]

    @property
    def score_range(self) -> tuple[int, int]:
        """Lowest and highest allowed score."""
        return SCORE_RANGE[self.protocol]

    @property
    def stimulus_dir(self) -> Path:
        """Folder of the stimulus set (holds manifest.csv, trials.csv and the WAVs)."""
        return self.manifest.parent


def load_study(path: str | Path) -> Study:
    """Read and validate a study YAML file; raises StudyError listing every problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError:
        raise StudyError(path, ["the file does not exist or cannot be read"]) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" near line {where.line + 1}" if where is not None else ""
        raise StudyError(path, [f"the file is not valid YAML{line}"]) from None
    if not isinstance(raw, dict):
        raise StudyError(path, ["the file must be a mapping of fields (id, title, protocol, ...)"])
    problems: list[str] = []
    study = _parse(raw, path.resolve().parent, path.resolve(), problems)
    if problems:
        raise StudyError(path, problems)
    return study


def _parse(raw: dict, base: Path, path: Path, problems: list[str]) -> Study:
    unknown_keys(raw, _TOP_KEYS, "", problems)
    get = FieldReader(raw, "", problems)
    study_id = get.text("id", required=True, max_len=64)
    if study_id and not _ID_RE.match(study_id):
        problems.append("id must be lower-case letters, digits, '-' or '_' (at most 64), e.g. 'acr-2024'")
    title = get.text("title", required=True, max_len=200)
    protocol = get.text("protocol", required=True, max_len=10).lower()
    if protocol and protocol not in PROTOCOLS:
        problems.append(f"protocol must be one of {', '.join(PROTOCOLS)} (got '{protocol}')")
    manifest, build = _parse_stimuli(raw.get("stimuli"), base, problems)
    if build is not None and protocol == "p835":  # its trapping message names the SIG, BAK and OVRL answers
        build = replace(build, trap_scales=SCALES[protocol])
    conditions = _parse_conditions(raw.get("conditions"), problems)
    ask_pid = get.boolean("ask_participant_id", False)
    no_controls = protocol in ("mushra", *COMPARISON_PROTOCOLS)  # their screening has no trap/gold clips
    study = Study(
        id=study_id,
        title=title,
        protocol=protocol,
        path=path,
        manifest=manifest,
        build=build,
        conditions=conditions,
        items_per_session=get.integer("items_per_session", 10, 1, 200),
        votes_per_stimulus=get.integer("votes_per_stimulus", 8, 1, 10000),
        trapping=get.integer("trapping", 0 if no_controls else 1, 0, 10),
        gold=get.integer("gold", 0 if no_controls else 1, 0, 10),
        training_items=get.integer("training_items", 1, 0, 10),
        purpose=get.text("purpose", max_len=2000),
        consent=get.text("consent", max_len=5000) or default_consent(ask_pid),
        instructions=get.text("instructions", max_len=5000) or DEFAULT_INSTRUCTIONS.get(protocol, ""),
        completion_code_prefix=get.text("completion_code_prefix", max_len=16),
        ask_participant_id=ask_pid,
        participant_params=_parse_params(get.names("participant_params", PARTICIPANT_PARAMS), problems),
        completion_url=_parse_completion_url(get.text("completion_url", max_len=1000), problems),
        quota=get.integer("quota", 0, 0, 1_000_000),
        screening=parse_screening(raw.get("screening"), problems),
        mushra=_parse_mushra(raw.get("mushra"), protocol, problems),
        before_test=parse_before_test(raw.get("before_test"), problems),
        pairs=parse_pairs(raw.get("pairs"), protocol, problems),
        no_preference=get.boolean("no_preference", False),
        definition=raw,
    )
    _check_consistency(study, problems)
    return study


def parse_screening(section: object, problems: list[str]) -> ScreeningRules:
    """The `screening` section (absent: the P.808 and BS.1534-3 defaults); wrong values add problems."""
    if section is None:
        return ScreeningRules()
    if not isinstance(section, dict):
        problems.append("screening must be a mapping (min_variance, listen_slack_s, reference_min, ...)")
        return ScreeningRules()
    defaults = ScreeningRules()
    unknown_keys(section, tuple(defaults.__dataclass_fields__), "screening.", problems)
    get = FieldReader(section, "screening.", problems)
    return ScreeningRules(
        min_variance=get.number("min_variance", defaults.min_variance, 0.0, 4.0),
        listen_slack_s=get.number("listen_slack_s", defaults.listen_slack_s, 0.0, 10.0),
        trapping_excludes=get.boolean("trapping_excludes", defaults.trapping_excludes),
        gold_excludes=get.boolean("gold_excludes", defaults.gold_excludes),
        reference_min=get.number("reference_min", defaults.reference_min, 0.0, 100.0),
        anchor_max=get.number("anchor_max", defaults.anchor_max, 0.0, 100.0),
        max_share=get.number("max_share", defaults.max_share, 0.0, 1.0),
        headphone_check_excludes=get.boolean("headphone_check_excludes", defaults.headphone_check_excludes),
        questions_exclude=get.boolean("questions_exclude", defaults.questions_exclude),
    )


def _parse_mushra(section: object, protocol: str, problems: list[str]) -> MushraOptions:
    """The `mushra` section: how the MUSHRA panel switches, loops and unlocks sliders (absent: the defaults)."""
    if section is None:
        return MushraOptions()
    if not isinstance(section, dict):
        problems.append("mushra must be a mapping (switching, loop, exclusive_sliders)")
        return MushraOptions()
    if protocol and protocol != "mushra":
        problems.append(f"the mushra section applies to protocol mushra only (this study is {protocol})")
    defaults = MushraOptions()
    unknown_keys(section, tuple(defaults.__dataclass_fields__), "mushra.", problems)
    get = FieldReader(section, "mushra.", problems)
    switching = get.text("switching", max_len=10) or defaults.switching
    if switching not in SWITCHING:
        problems.append(f"mushra.switching must be {' or '.join(SWITCHING)} (got '{switching}')")
        switching = defaults.switching
    return MushraOptions(
        switching=switching,
        loop=get.boolean("loop", defaults.loop),
        exclusive_sliders=get.boolean("exclusive_sliders", defaults.exclusive_sliders),
    )


def _parse_stimuli(section: object, base: Path, problems: list[str]) -> tuple[Path, BuildConfig | None]:
    if not isinstance(section, dict):
        problems.append("stimuli is missing: give stimuli.dir (with a build section) or stimuli.manifest")
        return base / "manifest.csv", None
    unknown_keys(section, _STIMULI_KEYS, "stimuli.", problems)
    get = FieldReader(section, "stimuli.", problems)
    dir_text, manifest_text = get.text("dir", max_len=1000), get.text("manifest", max_len=1000)
    build = _parse_build(section["build"], base, problems) if "build" in section else None
    if dir_text and manifest_text:
        problems.append("stimuli needs either dir or manifest, not both")
    if manifest_text:
        manifest = (base / manifest_text).resolve()
    elif dir_text:
        manifest = (base / dir_text).resolve() / "manifest.csv"
    else:
        problems.append("stimuli needs dir (where the set is built) or manifest (a built set)")
        return base / "manifest.csv", build
    if build is None and not manifest.is_file():
        problems.append(f"stimuli: {manifest} does not exist and there is no build section to make it")
    return manifest, build


def _parse_build(section: object, base: Path, problems: list[str]) -> BuildConfig | None:
    if not isinstance(section, dict):
        problems.append("stimuli.build must be a mapping (mixtures, excerpt_s, fade_ms, ...)")
        return None
    keys = (
        "mixtures",
        "excerpt_s",
        "fade_ms",
        "target_lufs",
        "pipelines",
        "anchors",
        "mixture",
        "trap_clips",
        "gold_clips",
        "dnsmos",
        "voice",
    )
    unknown_keys(section, keys, "stimuli.build.", problems)
    get = FieldReader(section, "stimuli.build.", problems)
    defaults = BuildConfig()
    mixtures_text = get.text("mixtures", required=True, max_len=1000)
    mixtures = (base / mixtures_text).resolve() if mixtures_text else None
    if mixtures is not None and not mixtures.exists():
        problems.append(f"stimuli.build.mixtures: {mixtures} does not exist")
    pipelines = tuple(get.names("pipelines", defaults.pipelines))
    for name in pipelines:
        if name not in PIPELINES:
            problems.append(f"stimuli.build.pipelines: unknown pipeline '{name}' (known: {', '.join(PIPELINES)})")
    return BuildConfig(
        mixtures=mixtures,
        excerpt_s=get.number("excerpt_s", defaults.excerpt_s, 1.0, MAX_EXCERPT_S),
        fade_ms=get.number("fade_ms", defaults.fade_ms, 0.0, 50.0),
        target_lufs=get.number("target_lufs", defaults.target_lufs, -50.0, -10.0),
        pipelines=pipelines,
        anchors=_parse_anchors(section.get("anchors", "auto"), problems),
        include_mixture=get.boolean("mixture", True),
        trap_clips=get.integer("trap_clips", defaults.trap_clips, 0, 50),
        gold_clips=get.integer("gold_clips", defaults.gold_clips, 0, 50),
        with_dnsmos=get.boolean("dnsmos", True),
        voice=get.text("voice", max_len=40) or defaults.voice,
    )


def _parse_anchors(value: object, problems: list[str]) -> tuple[int, ...] | None:
    if value == "auto":
        return None
    if value in (None, False, "none"):
        return ()
    if isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and 500 <= v <= 20000 for v in value
    ):
        return tuple(value)
    problems.append("stimuli.build.anchors must be 'auto', 'none' or a list of low-pass cut-offs in Hz (500-20000)")
    return None


def _parse_params(names: list[str], problems: list[str]) -> tuple[str, ...]:
    bad = [n for n in names if not _PARAM_RE.match(n)]
    if not names or len(names) > 10 or bad:
        problems.append(
            "participant_params must list 1 to 10 URL parameter names of letters, digits, '_', '.' or '-' "
            f"(e.g. [PROLIFIC_PID, workerId]){'; not valid: ' + ', '.join(repr(b) for b in bad) if bad else ''}"
        )
        return PARTICIPANT_PARAMS
    return tuple(names)


def _parse_completion_url(url: str, problems: list[str]) -> str:
    if not url:
        return ""
    rest = url.replace(CODE_FIELD, "")
    if not url.startswith(("https://", "http://")) or CODE_FIELD not in url or "{" in rest or "}" in rest:
        problems.append(
            f"completion_url must be an http(s) address with {CODE_FIELD} where the completion code goes, e.g. "
            f"'https://app.prolific.com/submissions/complete?cc={CODE_FIELD}' (got '{url[:80]}')"
        )
        return ""
    return url


def _parse_conditions(value: object, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append("conditions must be a non-empty list of condition names")
        return None
    bad = [v for v in value if not _CONDITION_RE.match(v) or is_check(v)]
    if bad:
        problems.append(
            f"conditions: {', '.join(repr(b) for b in bad)} are not valid condition names "
            "(lower-case letters, digits, '_'; trap_/gold_ are reserved)"
        )
    if len(set(value)) != len(value):
        problems.append("conditions lists a condition twice")
    return tuple(value)


def _check_consistency(study: Study, problems: list[str]) -> None:
    if study.ask_participant_id and "participant" not in study.consent.lower():
        problems.append(
            "ask_participant_id is true, so the consent text must tell raters that their participant id is "
            "stored (mention 'participant id'), or leave consent out to use the default text"
        )
    if "participant_params" in study.definition and not study.ask_participant_id:
        problems.append("participant_params is set but ask_participant_id is false: set it to true to read the id")
    if study.protocol == "mushra":
        if study.trapping or study.gold:
            problems.append(
                "MUSHRA screens listeners with the hidden reference and the anchors: set trapping and gold to 0"
            )
        if study.conditions is not None and REFERENCE not in study.conditions:
            problems.append("MUSHRA needs the hidden reference: add 'reference' to conditions")
        shown = study.conditions or (build_conditions(study.build, 16000) if study.build else ())
        if len(shown) > MAX_MUSHRA_CONDITIONS:
            problems.append(
                f"MUSHRA allows at most {MAX_MUSHRA_CONDITIONS} conditions per page (this study has {len(shown)})"
            )
    _check_comparison(study, problems)
    if study.build is not None:
        if study.trapping > study.build.trap_clips:
            problems.append(
                f"trapping asks for {study.trapping} per session but the build makes only "
                f"{study.build.trap_clips} trap clips (stimuli.build.trap_clips)"
            )
        if study.gold > study.build.gold_clips:
            problems.append(
                f"gold asks for {study.gold} per session but the build makes only "
                f"{study.build.gold_clips} gold clips (stimuli.build.gold_clips)"
            )
        if study.conditions is not None:
            possible = set(build_conditions(study.build, 16000)) | set(build_conditions(study.build, 8000))
            missing = [c for c in study.conditions if c not in possible]
            if missing:
                problems.append(
                    f"conditions {', '.join(missing)} are not made by the build section "
                    f"(it makes {', '.join(sorted(possible))})"
                )


def _check_comparison(study: Study, problems: list[str]) -> None:
    """CCR and A/B: no trap or gold clips (theirs ask for an ACR answer), `no_preference` for A/B only."""
    if study.protocol in COMPARISON_PROTOCOLS and (study.trapping or study.gold):
        problems.append(f"{study.protocol.upper()} pages have no trapping or gold clips: set trapping and gold to 0")
    if "no_preference" in study.definition and study.protocol != "ab":
        problems.append(f"no_preference applies to protocol ab only (this study is {study.protocol})")
    if study.conditions is not None:
        problems += pair_problems(study.protocol, study.pairs, study.conditions)


def build_conditions(config: BuildConfig, sample_rate: int) -> tuple[str, ...]:
    """The non-control conditions a build makes for material at `sample_rate`."""
    cutoffs, note = anchor_cutoffs(config, sample_rate)
    mixture = (MIXTURE,) if config.include_mixture or note else ()
    return (REFERENCE, *mixture, *(anchor_condition(c) for c in cutoffs), *config.pipelines)


def check_conditions(study: Study, available: Sequence[str]) -> tuple[str, ...]:
    """The conditions shown, checked against those of a built stimulus set; raises StudyError."""
    available_test = [c for c in available if not is_check(c)]
    shown = study.conditions or tuple(dict.fromkeys(available_test))
    problems = [f"condition '{c}' is not in the stimulus set {study.manifest}" for c in shown if c not in available]
    if study.protocol == "mushra":
        if REFERENCE not in shown:
            problems.append("MUSHRA needs the hidden reference but the stimulus set has no 'reference' condition")
        if len(shown) > MAX_MUSHRA_CONDITIONS:
            problems.append(f"MUSHRA allows at most {MAX_MUSHRA_CONDITIONS} conditions per page ({len(shown)} here)")
    problems += pair_problems(study.protocol, study.pairs, shown)
    if problems:
        raise StudyError(study.path, problems)
    return tuple(shown)
