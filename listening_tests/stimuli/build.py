"""Building a stimulus set from mixtures: run the pipelines, cut, fade, normalise, score, record.

A stimulus is one (item_id, condition): an item is one target talker of one mixture (`<mixture_ID>_s1`).
Every stimulus is an excerpt of at most 10 s where the target talks, with raised-cosine fades,
normalised to the target loudness but never clipped. The build writes `manifest.csv`, `trials.csv`
(expected answers of the trapping and gold clips) and `build.json` (settings and notes), all described
in docs/file-formats.md, and resumes where an interrupted build stopped.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import os
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from ddpmss.audio import fit_length, load_audio, resample, write_audio
from ddpmss.corpus.librimix import MixtureEntry, read_mixture_list
from ddpmss.files import atomic_path, write_csv
from ddpmss.metrics import METRIC_NAMES, metrics_pool, score
from listening_tests.conditions import REFERENCE
from listening_tests.stimuli.anchors import condition_signals
from listening_tests.stimuli.controls import Control, control_signal, plan_controls, trial_rows
from listening_tests.stimuli.loudness import apply_fades, excerpt_window, normalise_loudness
from listening_tests.stimuli.manifest import (
    MANIFEST_COLUMNS,
    PARTIAL_MANIFEST,
    TRIALS_COLUMNS,
    BuildError,
    StimulusSet,
    append_manifest_rows,
    load_stimulus_set,
    read_manifest,
    sha256_file,
)
from listening_tests.study import BuildConfig, anchor_cutoffs, build_conditions


@dataclass
class _Pending:
    """Rows of one mixture waiting for their metrics."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    futures: dict[int, cf.Future] = field(default_factory=dict)
    new: list[int] = field(default_factory=list)  # indices of rows made in this run


@dataclass(frozen=True)
class _Run:
    """What every step of one build needs."""

    out: Path
    config: BuildConfig
    separator: Any
    controls: Mapping[str, list[Control]]
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
    controls = plan_controls(entries, config)
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
    write_csv(out / "manifest.csv", MANIFEST_COLUMNS, rows)
    write_csv(out / "trials.csv", TRIALS_COLUMNS, trial_rows(controls, rows))
    _write_record(out, config, notes)
    (out / PARTIAL_MANIFEST).unlink(missing_ok=True)
    return load_stimulus_set(out / "manifest.csv")


def build_study_stimuli(study: Any, separator: Any, *, workers: int = 2, progress: bool = True) -> StimulusSet:
    """Build (or finish) the stimuli a study's `build` section describes, into the study's stimulus folder."""
    if study.build is None or study.build.mixtures is None:
        raise BuildError(f"The study '{study.id}' has no stimuli.build section naming its mixtures.")
    entries = read_mixture_list(study.build.mixtures)
    return build_stimuli(entries, study.stimulus_dir, study.build, separator, workers=workers, progress=progress)


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
    with atomic_path(out / "build.json") as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


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
        excerpts = {n: e[k][start:end] for n, e in estimates.items()}
        signals = condition_signals(ref, mix, sr, cutoffs, excerpts, config.fade_ms)
        for condition in conditions:
            _add(run, pending, (item, condition), signals[condition], sr, (ref, mix))
        for c in run.controls[item]:
            _add(run, pending, (item, c.condition), control_signal(c, ref, sr, config, seed=k), sr, None)
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
    order = result.talker_order(refs, sr)
    return (
        mixture,
        refs,
        {
            name: _at_rate(result.outputs[name][order], result.sample_rate, sr, len(mixture))
            for name in config.pipelines
        },
    )


def _at_rate(estimates: np.ndarray, from_sr: int, sr: int, length: int) -> np.ndarray:
    """Estimates resampled to the stimulus rate and cut or padded to the mixture's length."""
    return fit_length(np.asarray(resample(np.asarray(estimates, np.float32), from_sr, sr)), length)


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
    os.replace(part, run.out / rel)  # named by its content, known only once written
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
    args = (normalised, None if key[1] == REFERENCE else ref, sr, mix, run.config.with_dnsmos)
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
        append_manifest_rows(out / PARTIAL_MANIFEST, [mixture.rows[i] for i in mixture.new])
        finished += mixture.rows
    return finished


def _fmt(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    return text if float(text) != 0 else f"{0.0:.{digits}f}"  # no "-0.0000"
