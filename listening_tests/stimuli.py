"""Stimulus sets: build them from mixtures (run the pipelines, trim, fade, normalise, score) and read them.

A stimulus is one (item_id, condition): an item is one target talker of one mixture (`<mixture_ID>_s1`).
Every stimulus is an excerpt of at most 10 s where the target talks, with raised-cosine fades,
normalised to the target loudness (ITU-R BS.1770, pyloudnorm) but never clipped. The build writes
`manifest.csv` (DESIGN.md section 6), `trials.csv` (expected answers of the trapping and gold clips)
and `build.json` (settings and notes) and resumes where an interrupted build stopped.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import hashlib
import json
import math
import os
import secrets
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy import signal
from tqdm import tqdm

from ddpmss.audio import PEAK_LIMIT, fit_length, load_audio, resample, write_audio
from ddpmss.corpus.librimix import MixtureEntry
from ddpmss.metrics import METRIC_NAMES, match_permutation, metrics_pool, score
from listening_tests.study import (
    ACR_LABELS,
    BuildConfig,
    anchor_condition,
    anchor_cutoffs,
    build_conditions,
)

MANIFEST_COLUMNS = (
    "item_id",
    "condition",
    "path",
    "sha256",
    "duration_s",
    "sample_rate",
    "loudness_lufs",
    "gain_db",
    *METRIC_NAMES,
)
TRIALS_COLUMNS = ("item_id", "condition", "kind", "scale", "expected_score", "tolerance")
PARTIAL_MANIFEST = "manifest.partial.csv"
TRAP_SCORES = (2, 4, 1, 5, 3)  # order in which trap clips cycle through the answers
GOLD_CONDITIONS = (("gold_excellent", 5), ("gold_bad", 1))
GOLD_TOLERANCE = 1
GOLD_BAD_CUTOFF_HZ = 1000
GOLD_BAD_SNR_DB = 0.0
FRAME_S = 0.01


class BuildError(RuntimeError):
    """A stimulus set that cannot be built or read; the message is one sentence."""


@dataclass(frozen=True)
class Stimulus:
    """One playable stimulus of a built set."""

    item_id: str
    condition: str
    path: Path
    duration_s: float
    sample_rate: int


@dataclass(frozen=True)
class Trial:
    """The expected answer of a trapping or gold clip."""

    item_id: str
    condition: str
    kind: str  # trap | gold
    scale: str
    expected_score: float
    tolerance: float


@dataclass(frozen=True)
class StimulusSet:
    """A built stimulus set: every stimulus of the manifest plus the control trials."""

    manifest: Path
    stimuli: dict[tuple[str, str], Stimulus]
    trials: dict[tuple[str, str], Trial] = field(default_factory=dict)

    @property
    def conditions(self) -> tuple[str, ...]:
        """Conditions in manifest order (control conditions included)."""
        return tuple(dict.fromkeys(c for _, c in self.stimuli))

    @property
    def items(self) -> tuple[str, ...]:
        """Item ids in manifest order."""
        return tuple(dict.fromkeys(i for i, _ in self.stimuli))


# ---------------------------------------------------------------------------------------------- DSP


def excerpt_window(target: np.ndarray, sr: int, length_s: float) -> tuple[int, int]:
    """Start and end sample of the `length_s` window where the target talker has the most energy."""
    n = round(length_s * sr)
    if len(target) <= n:
        return 0, len(target)
    hop = max(1, int(FRAME_S * sr))
    frames = len(target) // hop
    energy = np.square(target[: frames * hop].astype(np.float64)).reshape(frames, hop).sum(axis=1)
    width = n // hop
    sums = np.convolve(energy, np.ones(width), mode="valid")
    start = int(np.argmax(sums)) * hop
    start = min(start, len(target) - n)
    return start, start + n


def apply_fades(x: np.ndarray, sr: int, fade_ms: float) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of `fade_ms` milliseconds."""
    y = np.array(x, dtype=np.float32)
    n = min(round(fade_ms * sr / 1000), len(y) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
        y[:n] *= ramp
        y[-n:] *= ramp[::-1]
    return y


def lowpass(x: np.ndarray, sr: int, cutoff_hz: float, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth low-pass (the MUSHRA anchors)."""
    sos = signal.butter(order, cutoff_hz, btype="lowpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x).astype(np.float32)


def loudness(x: np.ndarray, sr: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770); NaN when the clip is too short or silent."""
    try:
        value = float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(x, dtype=np.float64)))
    except ValueError:  # shorter than one 400 ms gating block
        return math.nan
    return value if math.isfinite(value) else math.nan


def normalise_loudness(x: np.ndarray, sr: int, target_lufs: float) -> tuple[np.ndarray, float, float]:
    """Scale to `target_lufs` but never past the peak limit; returns (audio, loudness LUFS, gain dB).

    The gain returned is the one applied: lower than asked when the asked gain would clip.
    """
    measured = loudness(x, sr)
    if math.isnan(measured):
        return np.asarray(x, dtype=np.float32), math.nan, 0.0
    gain_db = target_lufs - measured
    peak = float(np.max(np.abs(x)))
    if peak > 0:
        gain_db = min(gain_db, 20 * math.log10(PEAK_LIMIT / peak))
    y = (np.asarray(x, dtype=np.float64) * 10 ** (gain_db / 20)).astype(np.float32)
    return y, measured + gain_db, gain_db


def speak(text: str, sr: int, voice: str) -> np.ndarray:
    """Synthesise `text` offline with a voice of ddpmss.corpus.voices, at `sr`."""
    from ddpmss.corpus.voices import synthesize  # only studies with traps need the TTS engines

    try:
        return synthesize(text, voice, sr)
    except (ValueError, RuntimeError, OSError) as exc:
        raise BuildError(f"The trapping message could not be synthesised: {exc}") from None


def trap_message(expected: int) -> str:
    """The spoken instruction of a trapping clip."""
    return f"This is an attention check. Please select the answer {ACR_LABELS[expected]}."


def insert_message(x: np.ndarray, message: np.ndarray, sr: int, fade_ms: float) -> np.ndarray:
    """Interrupt `x` after about 1.5 s with `message` (matched in level), keeping the total length if it fits."""
    head = min(int(1.5 * sr), len(x) // 3)
    pause = np.zeros(int(0.3 * sr), dtype=np.float32)
    rms_x = float(np.sqrt(np.mean(np.square(x)))) or 1.0
    rms_m = float(np.sqrt(np.mean(np.square(message)))) or 1.0
    spoken = message * (rms_x / rms_m)
    before = apply_fades(x[:head], sr, fade_ms)
    after = apply_fades(x[head:], sr, fade_ms)
    out = np.concatenate([before, pause, spoken, pause, after]).astype(np.float32)
    keep = max(len(x), head + 2 * len(pause) + len(spoken))
    return apply_fades(out[:keep], sr, fade_ms)


def gold_bad(reference: np.ndarray, sr: int, seed: int) -> np.ndarray:
    """An obviously bad version of the reference: its 1 kHz low-pass plus white noise as loud as the reference."""
    muffled = lowpass(reference, sr, GOLD_BAD_CUTOFF_HZ)
    noise = np.random.default_rng(seed).standard_normal(len(reference)).astype(np.float32)
    power = float(np.mean(np.square(reference))) or 1e-8
    noise *= math.sqrt(power / 10 ** (GOLD_BAD_SNR_DB / 10)) / max(float(np.std(noise)), 1e-8)
    return (muffled + noise).astype(np.float32)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------- manifest files


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of a manifest (or partial manifest) file; raises BuildError when the columns are wrong."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
            raise BuildError(f"{path} does not have the manifest columns ({', '.join(MANIFEST_COLUMNS)}).")
        return list(reader)


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a CSV atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in columns} for row in rows)
    os.replace(tmp, path)


def _append_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in MANIFEST_COLUMNS} for row in rows)
        f.flush()
        os.fsync(f.fileno())


def load_stimulus_set(manifest: str | Path) -> StimulusSet:
    """Read a built stimulus set (manifest.csv and, when present, trials.csv next to it)."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise BuildError(f"The stimulus manifest {manifest} does not exist; build the stimuli first.")
    stimuli: dict[tuple[str, str], Stimulus] = {}
    for row in read_manifest(manifest):
        key = (row["item_id"], row["condition"])
        stimuli[key] = Stimulus(
            item_id=key[0],
            condition=key[1],
            path=(manifest.parent / row["path"]).resolve(),
            duration_s=float(row["duration_s"]),
            sample_rate=int(row["sample_rate"]),
        )
    if not stimuli:
        raise BuildError(f"The stimulus manifest {manifest} lists no stimuli.")
    return StimulusSet(manifest=manifest.resolve(), stimuli=stimuli, trials=_read_trials(manifest.parent))


def _read_trials(folder: Path) -> dict[tuple[str, str], Trial]:
    path = folder / "trials.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    trials = (
        Trial(r["item_id"], r["condition"], r["kind"], r["scale"], float(r["expected_score"]), float(r["tolerance"]))
        for r in rows
    )
    return {(t.item_id, t.condition): t for t in trials}


# -------------------------------------------------------------------------------------- the build


@dataclass
class _Pending:
    """Rows of one mixture waiting for their metrics."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    futures: dict[int, cf.Future] = field(default_factory=dict)
    new: list[int] = field(default_factory=list)  # indices of rows made in this run


@dataclass(frozen=True)
class _Control:
    condition: str
    kind: str
    expected: int
    tolerance: int


@dataclass(frozen=True)
class _Run:
    """What every step of one build needs."""

    out: Path
    config: BuildConfig
    separator: Any
    controls: Mapping[str, list[_Control]]
    done: Mapping[tuple[str, str], dict[str, str]]
    pool: cf.Executor | None


def build_stimuli(
    entries: Sequence[MixtureEntry],
    out_dir: str | Path,
    config: BuildConfig,
    separator: Any,
    *,
    workers: int = 2,
    progress: bool = True,
) -> StimulusSet:
    """Build (or finish building) a stimulus set in `out_dir`; returns it.

    `separator` is a `ddpmss.pipelines.Separator` (or anything with the same `separate` method).
    Metrics run in `workers` processes (0 or 1: in this process). Stimuli already built with a
    matching file and SHA-256 are kept, so an interrupted build continues where it stopped.
    WAV files are named by their content hash, so a browser never sees which condition it plays.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes = _start_record(out, config)
    controls = _plan_controls(entries, config)
    rows: list[dict[str, Any]] = []
    pending: deque[_Pending] = deque()
    bar = tqdm(total=len(entries), desc="stimuli", unit="mix", disable=not progress)
    with metrics_pool(workers) as pool, bar:
        run = _Run(out, config, separator, controls, _valid_rows(out), pool)
        for entry in entries:
            mixture_rows, note = _build_mixture(entry, run)
            if note and note not in notes:
                notes.append(note)
            pending.append(mixture_rows)
            rows += _finish(pending, out, keep=1 if pool else 0)  # overlap separation and metrics
            bar.update(1)
        rows += _finish(pending, out, keep=0)
    _write_csv(out / "manifest.csv", MANIFEST_COLUMNS, rows)
    _write_csv(out / "trials.csv", TRIALS_COLUMNS, _trial_rows(controls, rows))
    _write_record(out, config, notes)
    (out / PARTIAL_MANIFEST).unlink(missing_ok=True)
    return load_stimulus_set(out / "manifest.csv")


def _start_record(out: Path, config: BuildConfig) -> list[str]:
    record = out / "build.json"
    if record.exists():
        previous = json.loads(record.read_text(encoding="utf-8"))
        if previous.get("config") != config.fingerprint():
            raise BuildError(f"{out} holds stimuli built with other settings; build into an empty folder.")
        return list(previous.get("notes", []))
    _write_record(out, config, [])
    return []


def _write_record(out: Path, config: BuildConfig, notes: list[str]) -> None:
    text = json.dumps({"config": config.fingerprint(), "notes": notes}, indent=2)
    tmp = out / "build.json.part"
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, out / "build.json")


def _valid_rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Rows of earlier runs whose WAV still exists with the recorded SHA-256."""
    rows: list[dict[str, str]] = []
    for name in ("manifest.csv", PARTIAL_MANIFEST):
        if (out / name).is_file():
            rows += read_manifest(out / name)
    valid = {}
    for row in rows:
        if None in row.values():  # a row cut short by a crash
            continue
        path = out / row["path"]
        if path.is_file() and sha256_file(path) == row["sha256"]:
            valid[(row["item_id"], row["condition"])] = row
    return valid


def _plan_controls(entries: Sequence[MixtureEntry], config: BuildConfig) -> dict[str, list[_Control]]:
    """Which items carry the trapping and gold clips (spread over the items, answers varied)."""
    items = [f"{e.mixture_id}_s{k + 1}" for e in entries for k in range(len(e.source_paths))]
    plan: dict[str, list[_Control]] = {item: [] for item in items}
    if not items:
        return plan
    wanted = []
    for j in range(config.trap_clips):
        expected = TRAP_SCORES[j % len(TRAP_SCORES)]
        wanted.append((items[j % len(items)], _Control(f"trap_{expected}", "trap", expected, 0)))
    for j in range(config.gold_clips):  # excellent and bad alternate, and move on to the next item
        condition, expected = GOLD_CONDITIONS[j % 2]
        item = items[(j // 2 + j % 2 + config.trap_clips) % len(items)]
        wanted.append((item, _Control(condition, "gold", expected, GOLD_TOLERANCE)))
    for item, control in wanted:
        if control not in plan[item]:  # more clips asked than items x answers: no duplicates
            plan[item].append(control)
    return plan


def _trial_rows(controls: Mapping[str, list[_Control]], rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    built = {(r["item_id"], r["condition"]) for r in rows}
    return [
        {
            "item_id": item,
            "condition": c.condition,
            "kind": c.kind,
            "scale": "ovrl",
            "expected_score": c.expected,
            "tolerance": c.tolerance,
        }
        for item, cs in controls.items()
        for c in cs
        if (item, c.condition) in built
    ]


def _build_mixture(entry: MixtureEntry, run: _Run) -> tuple[_Pending, str | None]:
    """All stimuli of one mixture (skipped when every one is already built), plus the anchor note."""
    config = run.config
    sr = sf.info(str(entry.mixture_path)).samplerate
    cutoffs, note = anchor_cutoffs(config, sr)
    items = [f"{entry.mixture_id}_s{k + 1}" for k in range(len(entry.source_paths))]
    conditions = build_conditions(config, sr)
    wanted = [(i, c) for i in items for c in conditions] + [(i, c.condition) for i in items for c in run.controls[i]]
    if all(key in run.done for key in wanted):
        return _Pending([dict(run.done[key]) for key in wanted]), note
    mixture, refs, estimates = _separate(entry, sr, config, run.separator)
    pending = _Pending()
    for k, item in enumerate(items):
        start, end = excerpt_window(refs[k], sr, config.excerpt_s)
        ref = apply_fades(refs[k][start:end], sr, config.fade_ms)
        mix = apply_fades(mixture[start:end], sr, config.fade_ms)
        signals = _condition_signals(ref, mix, sr, cutoffs, {n: e[k][start:end] for n, e in estimates.items()}, config)
        for condition in conditions:
            _add(run, pending, (item, condition), signals[condition], sr, (ref, mix))
        for c in run.controls[item]:
            _add(run, pending, (item, c.condition), _control_signal(c, ref, sr, config, seed=k), sr, None)
    return pending, note


def _separate(
    entry: MixtureEntry, sr: int, config: BuildConfig, separator: Any
) -> tuple[np.ndarray, list[np.ndarray], dict[str, np.ndarray]]:
    """Mixture, references and each pipeline's estimates ordered like the references, all at `sr`."""
    mixture, _ = load_audio(entry.mixture_path)
    refs = [fit_length(load_audio(p, target_sr=sr)[0], len(mixture)) for p in entry.source_paths]
    if not config.pipelines:
        return mixture, refs, {}
    result = separator.separate(mixture, sr, list(config.pipelines))
    estimates = {}
    for name in config.pipelines:
        est = fit_length(
            np.asarray(resample(np.asarray(result.outputs[name], np.float32), result.sample_rate, sr)), len(mixture)
        )
        perm = match_permutation(est, np.stack(refs))
        estimates[name] = np.stack([est[p] for p in perm])
    return mixture, refs, estimates


def _condition_signals(
    ref: np.ndarray,
    mix: np.ndarray,
    sr: int,
    cutoffs: Sequence[int],
    estimates: Mapping[str, np.ndarray],
    config: BuildConfig,
) -> dict[str, np.ndarray]:
    signals = {"reference": ref, "mixture": mix}
    for cutoff in cutoffs:
        signals[anchor_condition(cutoff)] = apply_fades(lowpass(ref, sr, cutoff), sr, config.fade_ms)
    for name, est in estimates.items():
        signals[name] = apply_fades(est, sr, config.fade_ms)
    return signals


def _control_signal(control: _Control, ref: np.ndarray, sr: int, config: BuildConfig, seed: int) -> np.ndarray:
    if control.kind == "trap":
        return insert_message(ref, speak(trap_message(control.expected), sr, config.voice), sr, config.fade_ms)
    if control.condition == "gold_bad":
        return apply_fades(gold_bad(ref, sr, seed), sr, config.fade_ms)
    return ref


def _add(
    run: _Run,
    pending: _Pending,
    key: tuple[str, str],
    audio: np.ndarray,
    sr: int,
    scored_against: tuple[np.ndarray, np.ndarray] | None,
) -> None:
    """Write one stimulus (unless already built) and schedule its metrics against (reference, mixture)."""
    if key in run.done:
        pending.rows.append(dict(run.done[key]))
        return
    normalised, lufs, gain_db = normalise_loudness(audio, sr, run.config.target_lufs)
    part = run.out / "wav" / f"{secrets.token_hex(8)}.part.wav"
    gain_db += write_audio(part, normalised, sr)
    digest = sha256_file(part)
    rel = f"wav/{digest[:24]}.wav"
    os.replace(part, run.out / rel)
    row: dict[str, Any] = {
        "item_id": key[0],
        "condition": key[1],
        "path": rel,
        "sha256": digest,
        "duration_s": _fmt(len(audio) / sr, 4),
        "sample_rate": sr,
        "loudness_lufs": _fmt(lufs, 2),
        "gain_db": _fmt(gain_db, 2),
    }
    pending.rows.append(row)
    pending.new.append(len(pending.rows) - 1)
    if scored_against is None:
        return  # control clips: no metrics
    ref, mix = scored_against
    args = (normalised, None if key[1] == "reference" else ref, sr, mix, run.config.with_dnsmos)
    if run.pool is None:
        row.update(_metrics(*args))
    else:
        pending.futures[len(pending.rows) - 1] = run.pool.submit(_metrics, *args)


def _metrics(
    est: np.ndarray, ref: np.ndarray | None, sr: int, mix: np.ndarray | None, with_dnsmos: bool
) -> dict[str, str]:
    """Manifest metric columns of one stimulus (runs in a worker process)."""
    values = score(est, ref, sr, mixture=None if ref is None else mix, with_dnsmos=with_dnsmos)
    return {name: _fmt(values[name], 4) for name in METRIC_NAMES}


def _finish(pending: deque[_Pending], out: Path, keep: int) -> list[dict[str, Any]]:
    """Wait for the metrics of all but the `keep` newest mixtures and record their rows."""
    finished: list[dict[str, Any]] = []
    while len(pending) > keep:
        mixture = pending.popleft()
        for index, future in mixture.futures.items():
            mixture.rows[index].update(future.result())
        _append_rows(out / PARTIAL_MANIFEST, [mixture.rows[i] for i in mixture.new])
        finished += mixture.rows
    return finished


def _fmt(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    return text if float(text) != 0 else f"{0.0:.{digits}f}"  # no "-0.0000"


def build_study_stimuli(study: Any, separator: Any, *, workers: int = 2, progress: bool = True) -> StimulusSet:
    """Build (or finish) the stimuli a study's `build` section describes, into the study's stimulus folder."""
    from ddpmss.corpus.librimix import read_mixture_list

    if study.build is None or study.build.mixtures is None:
        raise BuildError(f"The study '{study.id}' has no stimuli.build section naming its mixtures.")
    entries = read_mixture_list(study.build.mixtures)
    return build_stimuli(entries, study.stimulus_dir, study.build, separator, workers=workers, progress=progress)
