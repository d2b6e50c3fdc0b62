"""A study: one YAML file saying what is tested, how, and how the stimulus set is made.

`load_study(path)` validates the whole file and reports every problem at once in one `StudyError`.
Relative paths in the file are read relative to the file's folder.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ddpmss.settings import PIPELINES

PROTOCOLS = ("acr", "mushra", "p835")
SCALES = {"acr": ("ovrl",), "mushra": ("mushra",), "p835": ("sig", "bak", "ovrl")}
SCORE_RANGE = {"acr": (1, 5), "mushra": (0, 100), "p835": (1, 5)}
INTEGER_SCORES = {"acr": True, "mushra": False, "p835": True}
MAX_MUSHRA_CONDITIONS = 12
MAX_EXCERPT_S = 10.0

ACR_LABELS = {5: "Excellent", 4: "Good", 3: "Fair", 2: "Poor", 1: "Bad"}
SCALE_LABELS: dict[str, dict[int, str]] = {
    "ovrl": ACR_LABELS,
    "sig": {
        5: "Not distorted",
        4: "Slightly distorted",
        3: "Somewhat distorted",
        2: "Fairly distorted",
        1: "Very distorted",
    },
    "bak": {
        5: "Not noticeable",
        4: "Slightly noticeable",
        3: "Noticeable but not intrusive",
        2: "Somewhat intrusive",
        1: "Very intrusive",
    },
    # MUSHRA: the lower bound of each 20-point band of the continuous 0-100 scale.
    "mushra": {80: "Excellent", 60: "Good", 40: "Fair", 20: "Poor", 0: "Bad"},
}
SCALE_QUESTIONS = {
    "ovrl": "Overall quality: how good is this recording?",
    "sig": "Speech signal: how distorted does the target talker's voice sound?",
    "bak": "Background: how intrusive is everything that is not the target talker (the other talker included)?",
    "mushra": "Rate each clip against the reference (0-100).",
}

WIDEBAND_ANCHORS = (3500, 7000)  # BS.1534-3 low and mid anchors (low-pass cut-offs in Hz)
NARROWBAND_ANCHORS = (2000,)  # for 8 kHz material: the mixture and a 2 kHz low-pass are the anchors
CONTROL_PREFIXES = ("trap_", "gold_")  # conditions of trapping and gold clips (quality control only)

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CONDITION_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9-]{0,16}$")
_TOP_KEYS = (
    "id",
    "title",
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


def anchor_condition(cutoff_hz: int) -> str:
    """Condition name of a low-pass anchor, e.g. `anchor_lp3500`."""
    return f"anchor_lp{int(cutoff_hz)}"


def is_control(condition: str) -> bool:
    """True for trapping and gold conditions (quality control, not part of the analysis)."""
    return condition.startswith(CONTROL_PREFIXES)


def default_consent(ask_participant_id: bool) -> str:
    """Consent text that says exactly what is stored."""
    extra = " and the participant id you type in" if ask_participant_id else ""
    return (
        "This is a listening test on the quality of separated speech. Taking part is voluntary and you "
        "can stop at any time. We store only your ratings, how long each clip played, the time of each "
        f"answer, a random pseudonymous rater id{extra}. We do not store your name, e-mail or IP "
        "address. The anonymised ratings may be published for research. Use headphones in a quiet room."
    )


DEFAULT_INSTRUCTIONS = {
    "acr": (
        "You will hear short recordings of one talker extracted from a mixture of two talkers. Listen to "
        "each clip to the end, then rate its overall quality from 5 (Excellent) to 1 (Bad). Some clips "
        "ask you to select a given answer: please do so."
    ),
    "p835": (
        "You will hear short recordings of one talker extracted from a mixture of two talkers. Listen to "
        "each clip to the end, then give three ratings: the speech signal alone (SIG: how distorted is the "
        "voice), the background (BAK: how intrusive is everything else, the other talker included) and "
        "the overall quality (OVRL)."
    ),
    "mushra": (
        "Each page has an open reference and several clips of the same talker. One clip is the hidden "
        "reference: give it 100. Rate every clip against the reference on the 0-100 scale; loop and "
        "switch between clips as often as you like."
    ),
}


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
    consent: str = ""
    instructions: str = ""
    completion_code_prefix: str = ""
    ask_participant_id: bool = False
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
    _unknown_keys(raw, _TOP_KEYS, "", problems)
    get = _Reader(raw, "", problems)
    study_id = get.text("id", required=True, max_len=64)
    if study_id and not _ID_RE.match(study_id):
        problems.append("id must be lower-case letters, digits, '-' or '_' (at most 64), e.g. 'acr-2024'")
    title = get.text("title", required=True, max_len=200)
    protocol = get.text("protocol", required=True, max_len=10).lower()
    if protocol and protocol not in PROTOCOLS:
        problems.append(f"protocol must be one of {', '.join(PROTOCOLS)} (got '{protocol}')")
    manifest, build = _parse_stimuli(raw.get("stimuli"), base, problems)
    conditions = _parse_conditions(raw.get("conditions"), problems)
    ask_pid = get.boolean("ask_participant_id", False)
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
        trapping=get.integer("trapping", 0 if protocol == "mushra" else 1, 0, 10),
        gold=get.integer("gold", 0 if protocol == "mushra" else 1, 0, 10),
        training_items=get.integer("training_items", 1, 0, 10),
        consent=get.text("consent", max_len=5000) or default_consent(ask_pid),
        instructions=get.text("instructions", max_len=5000) or DEFAULT_INSTRUCTIONS.get(protocol, ""),
        completion_code_prefix=get.text("completion_code_prefix", max_len=16),
        ask_participant_id=ask_pid,
        definition=raw,
    )
    _check_consistency(study, problems)
    return study


def _parse_stimuli(section: object, base: Path, problems: list[str]) -> tuple[Path, BuildConfig | None]:
    if not isinstance(section, dict):
        problems.append("stimuli is missing: give stimuli.dir (with a build section) or stimuli.manifest")
        return base / "manifest.csv", None
    _unknown_keys(section, _STIMULI_KEYS, "stimuli.", problems)
    get = _Reader(section, "stimuli.", problems)
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
    _unknown_keys(section, keys, "stimuli.build.", problems)
    get = _Reader(section, "stimuli.build.", problems)
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


def _parse_conditions(value: object, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append("conditions must be a non-empty list of condition names")
        return None
    bad = [v for v in value if not _CONDITION_RE.match(v) or is_control(v)]
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
    if study.protocol == "mushra":
        if study.trapping or study.gold:
            problems.append(
                "MUSHRA screens listeners with the hidden reference and the anchors: set trapping and gold to 0"
            )
        if study.conditions is not None and "reference" not in study.conditions:
            problems.append("MUSHRA needs the hidden reference: add 'reference' to conditions")
        shown = study.conditions or (build_conditions(study.build, 16000) if study.build else ())
        if len(shown) > MAX_MUSHRA_CONDITIONS:
            problems.append(
                f"MUSHRA allows at most {MAX_MUSHRA_CONDITIONS} conditions per page (this study has {len(shown)})"
            )
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


def build_conditions(config: BuildConfig, sample_rate: int) -> tuple[str, ...]:
    """The non-control conditions a build makes for material at `sample_rate`."""
    cutoffs, note = anchor_cutoffs(config, sample_rate)
    mixture = ("mixture",) if config.include_mixture or note else ()
    return ("reference", *mixture, *(anchor_condition(c) for c in cutoffs), *config.pipelines)


def _unknown_keys(raw: dict, known: Sequence[str], prefix: str, problems: list[str]) -> None:
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"unknown field '{prefix}{key}'{hint}")


class _Reader:
    """Typed access to one mapping of the YAML file; wrong values add a problem and yield a default."""

    def __init__(self, raw: dict, prefix: str, problems: list[str]) -> None:
        self.raw, self.prefix, self.problems = raw, prefix, problems

    def _get(self, key: str, default: object, check: Callable[[object], bool], wanted: str) -> Any:
        value = self.raw.get(key, default)
        if value is default or check(value):
            return value
        self.problems.append(f"{self.prefix}{key} must be {wanted} (got {value!r})")
        return default

    def text(self, key: str, *, required: bool = False, max_len: int) -> str:
        if required and self.raw.get(key) in (None, ""):
            self.problems.append(f"{self.prefix}{key} is missing")
            return ""
        value = self._get(key, "", lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "text")
        value = str(value).strip()
        if len(value) > max_len:
            self.problems.append(f"{self.prefix}{key} is longer than {max_len} characters")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        return self._get(
            key,
            default,
            lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
            f"a whole number from {low} to {high}",
        )

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._get(
            key,
            default,
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high,
            f"a number from {low:g} to {high:g}",
        )
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        return self._get(key, default, lambda v: isinstance(v, bool), "true or false")

    def names(self, key: str, default: Sequence[str]) -> list[str]:
        return list(
            self._get(
                key,
                tuple(default),
                lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                "a list of names",
            )
        )


def check_conditions(study: Study, available: Sequence[str]) -> tuple[str, ...]:
    """The conditions shown, checked against those of a built stimulus set; raises StudyError."""
    available_test = [c for c in available if not is_control(c)]
    shown = study.conditions or tuple(dict.fromkeys(available_test))
    problems = [f"condition '{c}' is not in the stimulus set {study.manifest}" for c in shown if c not in available]
    if study.protocol == "mushra":
        if "reference" not in shown:
            problems.append("MUSHRA needs the hidden reference but the stimulus set has no 'reference' condition")
        if len(shown) > MAX_MUSHRA_CONDITIONS:
            problems.append(f"MUSHRA allows at most {MAX_MUSHRA_CONDITIONS} conditions per page ({len(shown)} here)")
    if problems:
        raise StudyError(study.path, problems)
    return tuple(shown)
