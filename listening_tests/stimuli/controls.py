"""Quality-control clips of ACR and P.835 studies (ITU-T P.808; rules in docs/standards.md).

A trapping clip is the reference interrupted by a spoken instruction to select a given answer; a
gold clip has an obvious answer: the clean reference (Excellent) or a muffled, noisy copy (Bad).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ddpmss.corpus.librimix import MixtureEntry
from listening_tests.protocols import ACR_LABELS, SCALE_LABELS
from listening_tests.stimuli.anchors import lowpass
from listening_tests.stimuli.loudness import apply_fades
from listening_tests.stimuli.manifest import BuildError
from listening_tests.study import BuildConfig

TRAP_SCORES = (2, 4, 1, 5, 3)  # order in which trap clips cycle through the answers
GOLD_CONDITIONS = (("gold_excellent", 5), ("gold_bad", 1))
GOLD_TOLERANCE = 1
GOLD_BAD_CUTOFF_HZ = 1000
GOLD_BAD_SNR_DB = 0.0
TRAP_SCALE_NAMES = {"sig": "for the speech", "bak": "for the background", "ovrl": "overall"}


@dataclass(frozen=True)
class Control:
    """One control clip planned for an item: its condition, kind (trap | gold) and expected answer."""

    condition: str
    kind: str
    expected: int
    tolerance: int


def speak(text: str, sr: int, voice: str) -> np.ndarray:
    """Synthesise `text` offline with one of ddpmss.corpus's TTS voices, at `sr`."""
    from ddpmss.corpus.voices import synthesize  # the TTS catalogue loads only when a trap is spoken

    try:
        return synthesize(text, voice, sr)
    except (ValueError, RuntimeError, OSError) as exc:
        raise BuildError(f"The trapping message could not be synthesised: {exc}") from None


def trap_message(expected: int, scales: Sequence[str] = ("ovrl",)) -> str:
    """The spoken instruction of a trapping clip, worded for the scales the rater answers.

    ACR: the OVRL label ("... select the answer Poor."). P.835: the answer's number on every scale, with
    each scale's own label (SIG and BAK have no "Poor"); screening checks the answer on every scale.
    """
    if tuple(scales) == ("ovrl",):
        return f"This is an attention check. Please select the answer {ACR_LABELS[expected]}."
    named = [f"{SCALE_LABELS[scale][expected]} {TRAP_SCALE_NAMES[scale]}" for scale in scales]
    listed = ", ".join(named[:-1]) + f" and {named[-1]}" if len(named) > 1 else named[0]
    return f"This is an attention check. Please select the answer {expected} on every scale: {listed}."


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


def control_signal(control: Control, ref: np.ndarray, sr: int, config: BuildConfig, seed: int) -> np.ndarray:
    """The audio of one control clip made from the item's (faded) reference excerpt."""
    if control.kind == "trap":
        message = trap_message(control.expected, config.trap_scales)
        return insert_message(ref, speak(message, sr, config.voice), sr, config.fade_ms)
    if control.condition == "gold_bad":
        return apply_fades(gold_bad(ref, sr, seed), sr, config.fade_ms)
    return ref


def plan_controls(entries: Sequence[MixtureEntry], config: BuildConfig) -> dict[str, list[Control]]:
    """Which items carry the trapping and gold clips (spread over the items, answers varied)."""
    items = [f"{e.mixture_id}_s{k + 1}" for e in entries for k in range(len(e.source_paths))]
    plan: dict[str, list[Control]] = {item: [] for item in items}
    if not items:
        return plan
    wanted = []
    for j in range(config.trap_clips):
        expected = TRAP_SCORES[j % len(TRAP_SCORES)]
        wanted.append((items[j % len(items)], Control(f"trap_{expected}", "trap", expected, 0)))
    for j in range(config.gold_clips):  # excellent and bad alternate, and move on to the next item
        condition, expected = GOLD_CONDITIONS[j % 2]
        item = items[(j // 2 + j % 2 + config.trap_clips) % len(items)]
        wanted.append((item, Control(condition, "gold", expected, GOLD_TOLERANCE)))
    for item, control in wanted:
        if control not in plan[item]:  # more clips asked than items x answers: no duplicates
            plan[item].append(control)
    return plan


def trial_rows(controls: Mapping[str, list[Control]], rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """trials.csv rows: the expected answer of every control clip that was built."""
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
