"""How the sources of mixture lists sound to a recording-channel model, and how far apart in pitch each
mixture's two talkers are: the evidence behind the ranges of ddpmss.corpus.channel and the close-pitch
share of ddpmss.training.pairs (`python -m ddpmss.corpus describe`, docs/corpus.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from ddpmss.corpus.augment import median_pitch
from ddpmss.corpus.channel import (
    BASS_HZ,
    TREBLE_HZ,
    ChannelAugmentation,
    ChannelProfile,
    channel_profile,
    random_channel,
)
from ddpmss.corpus.librimix import read_mixture_list
from ddpmss.corpus.real import DEV_CLIPS, load_clip

CLOSE_SEMITONES = 2.0  # the pitch distance under which ddpmss.training.pairs calls a pair close


def describe_lists(lists: list[Path], with_channel: bool = False, dev_recordings: bool = False, seed: int = 0) -> str:
    """A Markdown table: per list, the sources' median and range of each channel-profile figure, and the
    mixtures' pitch distance (semitones between the two sources' median F0, mixtures with both voiced).

    With `with_channel`, every source first goes through a random recording channel (seeded), to show
    what the augmentation makes of the synthetic voices. With `dev_recordings`, a last row profiles the
    real recordings kept apart for this check (ddpmss.corpus.real.DEV_CLIPS, those installed)."""
    rng = np.random.default_rng(seed)
    config = ChannelAugmentation(share=1.0)
    rows = [
        f"| sources of | n | energy below {BASS_HZ:g} Hz | energy above {TREBLE_HZ:g} Hz | quiet frames vs loud (dB) "
        f"| talkers' pitch distance (semitones) | mixtures within {CLOSE_SEMITONES:g} semitones |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in lists:
        profiles, distances = [], []
        for entry in read_mixture_list(path):
            pitches = []
            for source in entry.source_paths:
                x, sr = sf.read(source, dtype="float32", always_2d=True)
                x = x.mean(axis=1)
                profiles.append(channel_profile(random_channel(x, sr, rng, config) if with_channel else x, sr))
                pitches.append(median_pitch(x, sr))
            if min(pitches) > 0:
                distances.append(abs(12 * np.log2(pitches[0] / pitches[1])))
        rows.append(_row(Path(path).name, profiles, distances))
    if dev_recordings:
        clips = [clip for clip in DEV_CLIPS if clip.path.exists()]
        rows.append(_row("development recordings", [channel_profile(load_clip(c), c.sample_rate) for c in clips], []))
    return "\n".join(rows)


def _row(name: str, profiles: list[ChannelProfile], distances: list[float]) -> str:
    if not profiles:
        return f"| {name} | 0 | | | | | |"
    cells = [
        _spread([p.low_share for p in profiles], "{:.1%}"),
        _spread([p.high_share for p in profiles], "{:.1%}"),
        _spread([p.floor_db for p in profiles], "{:.1f}"),
        _spread(distances, "{:.1f}") if distances else "",
        f"{np.mean(np.array(distances) < CLOSE_SEMITONES):.0%}" if distances else "",
    ]
    return f"| {name} | {len(profiles)} | " + " | ".join(cells) + " |"


def _spread(values: list[float], fmt: str) -> str:
    """Median [min, max]."""
    return f"{fmt.format(np.median(values))} [{fmt.format(min(values))}, {fmt.format(max(values))}]"
