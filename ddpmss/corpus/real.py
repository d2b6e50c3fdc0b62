"""Real recorded speech from Debian packages (codec2-examples, pocketsphinx-testdata, alsa-utils), mixed in
split 'real' (held out: the figures a model card reports) and split 'real_dev' (other speakers: for choosing
weights)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddpmss.audio import load_audio
from ddpmss.corpus.mixing import GAIN_RANGE_DB, MixturePlan, write_mixtures
from ddpmss.corpus.voices import trim_silence

CODEC2_RAW = Path("/usr/share/codec2/raw")
POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
LIBRIVOX = POCKETSPHINX_DATA / "librivox" / "sense_and_sensibility_01_austen_64kb-{}.wav"
# alsa-utils' speaker-test prompts: one voice (median F0 about 190 Hz) naming each loudspeaker, 48 kHz, about
# 1.4 s each; joined in this order into one recording, each trimmed and followed by PART_GAP_S of silence.
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
ALSA_PROMPTS = tuple(
    f"{name}.wav"
    for name in (
        "Front_Left",
        "Front_Center",
        "Front_Right",
        "Side_Left",
        "Side_Right",
        "Rear_Left",
        "Rear_Center",
        "Rear_Right",
    )
)
PART_GAP_S = 0.15


@dataclass(frozen=True)
class RealClip:
    """A recording shipped in a Debian package; .raw files are headerless 16-bit little-endian."""

    name: str
    path: Path
    sample_rate: int
    speaker: str
    start_s: float = 0.0
    parts: tuple[str, ...] = ()  # files under `path` (then a folder), joined in order: short takes of one speaker

    @property
    def files(self) -> list[Path]:
        """The recordings the clip is made of."""
        return [self.path / part for part in self.parts] if self.parts else [self.path]


CODEC2_16K = CODEC2_RAW / "speech_orig_16k.wav"
CLIPS = {
    clip.name: clip
    for clip in (
        RealClip("codec2-speech16k-a", CODEC2_16K, 16000, "codec2-speech16k"),
        RealClip("codec2-speech16k-b", CODEC2_16K, 16000, "codec2-speech16k", start_s=5.0),
        RealClip("librivox-0870", Path(str(LIBRIVOX).format("0870")), 16000, "librivox-reader"),
        RealClip("librivox-0890", Path(str(LIBRIVOX).format("0890")), 16000, "librivox-reader"),
        RealClip("librivox-0920", Path(str(LIBRIVOX).format("0920")), 16000, "librivox-reader"),
        RealClip("ps-goforward", POCKETSPHINX_DATA / "goforward.raw", 16000, "ps-commands"),
        RealClip("ps-numbers", POCKETSPHINX_DATA / "numbers.raw", 16000, "ps-commands"),
        RealClip("ps-cards-005", POCKETSPHINX_DATA / "cards" / "005.wav", 16000, "ps-cards"),
        RealClip("codec2-hts2a", CODEC2_RAW / "hts2a.raw", 8000, "codec2-hts2"),
        RealClip("codec2-hts1a", CODEC2_RAW / "hts1a.raw", 8000, "codec2-hts1"),
        RealClip("codec2-forig", CODEC2_RAW / "forig.raw", 8000, "codec2-forig"),
        RealClip("codec2-kristoff", CODEC2_RAW / "kristoff.raw", 8000, "codec2-kristoff"),
        RealClip("alsa-prompts", ALSA_SOUNDS, 48000, "alsa-prompts", parts=ALSA_PROMPTS),
    )
}

# Pairs of different speakers (female+male where the material allows); 16 kHz ones first.
REAL_PAIRS = (
    ("codec2-speech16k-a", "librivox-0870"),
    ("codec2-speech16k-b", "ps-goforward"),
    ("librivox-0920", "ps-numbers"),
    ("ps-cards-005", "librivox-0890"),
    ("codec2-hts2a", "codec2-hts1a"),
    ("codec2-forig", "codec2-kristoff"),
    # added 2026-12-08 (the alsa-utils voice with each 16 kHz speaker; the gains above are unchanged)
    ("alsa-prompts", "codec2-speech16k-a"),
    ("alsa-prompts", "librivox-0920"),
    ("alsa-prompts", "ps-goforward"),
    ("alsa-prompts", "ps-cards-005"),
)
REAL_PACKAGES = "codec2-examples, pocketsphinx-testdata and alsa-utils"
# Real recordings of speakers in no pair above (codec2-examples' other originals and two amateur-radio
# recordings): mixed in split 'real_dev', every pair of them, to choose weights on real speech (validation)
# and to check that the recording-channel augmentation covers real channels (`python -m ddpmss.corpus describe
# --dev-recordings`); never to train a model, and never for the held-out figures, which are split 'real''s.
DEV_CLIPS = tuple(
    RealClip(name, CODEC2_RAW / f"{name}.raw", 8000, f"codec2-{name}")
    for name in ("morig", "big_dog", "mmt1", "cq_ref", "vk5qi")
)
DEV_PAIRS = tuple(itertools.combinations([clip.name for clip in DEV_CLIPS], 2))
ALL_CLIPS = {**CLIPS, **{clip.name: clip for clip in DEV_CLIPS}}


def load_clip(clip: RealClip) -> np.ndarray:
    """A real clip as float32 at its native rate, starting at start_s, edge silence trimmed (a clip of
    several parts: each part trimmed, then joined with PART_GAP_S of silence after each)."""
    if clip.parts:
        gap = np.zeros(int(PART_GAP_S * clip.sample_rate), np.float32)
        parts = [trim_silence(_read_recording(path), clip.sample_rate) for path in clip.files]
        audio = np.concatenate([x for part in parts for x in (part, gap)])
    else:
        audio = _read_recording(clip.path)
    return trim_silence(audio[int(clip.start_s * clip.sample_rate) :], clip.sample_rate)


def _read_recording(path: Path) -> np.ndarray:
    """One recording as float32 mono at its own rate (.raw: headerless 16-bit little-endian)."""
    if path.suffix == ".raw":
        return np.fromfile(path, dtype="<i2").astype(np.float32) / 32768
    audio, _ = load_audio(path, max_seconds=None)
    return audio


def make_real_corpus(out: Path, seed: int = 0, max_seconds: float = 6.0) -> dict[str, dict[int, int]]:
    """Mix the real recordings into split 'real' (REAL_PAIRS) and split 'real_dev' (DEV_PAIRS), each pair at
    8 kHz and, where both recordings are natively 16 kHz, also at 16 kHz (8 kHz material is never upsampled
    into the 16 kHz set). Returns mixtures per split and rate."""
    if not _installed(REAL_PAIRS):
        raise ValueError(f"No real recordings found: install the Debian packages {REAL_PACKAGES}.")
    return {
        "real": _mix_split(out, "real", REAL_PAIRS, seed, max_seconds),
        "real_dev": _mix_split(out, "real_dev", DEV_PAIRS, seed + 1, max_seconds),
    }


def _mix_split(
    out: Path, split: str, pairs: tuple[tuple[str, str], ...], seed: int, max_seconds: float
) -> dict[int, int]:
    """Write one split's mixtures of the installed pairs, their gains drawn from `seed`; mixtures per rate."""
    pairs = _installed(pairs)
    gains = np.random.default_rng(seed).uniform(-GAIN_RANGE_DB, GAIN_RANGE_DB, size=len(pairs))
    plans = [MixturePlan(f"{a}_{b}", (a, b), float(g)) for (a, b), g in zip(pairs, gains)]
    made = {}
    for rate in (8000, 16000):
        chosen = [p for p in plans if min(ALL_CLIPS[s].sample_rate for s in p.sources) >= rate]
        if chosen:
            write_mixtures(chosen, _load_clip_by_name, out, split, [rate], max_seconds)
        made[rate] = len(chosen)
    return made


def _installed(pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """The pairs both of whose recordings are installed."""
    return [(a, b) for a, b in pairs if all(f.exists() for name in (a, b) for f in ALL_CLIPS[name].files)]


def _load_clip_by_name(name: str) -> tuple[np.ndarray, int]:
    clip = ALL_CLIPS[name]
    return load_clip(clip), clip.sample_rate
