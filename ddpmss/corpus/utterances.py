"""The utterance bank: which voice says which sentence, synthesized once and cached as 16 kHz WAV."""

from __future__ import annotations

import hashlib
import math
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ddpmss.audio import load_audio, write_audio
from ddpmss.corpus.augment import Augmentation, Perturbation, draw_perturbation, perturb
from ddpmss.corpus.sentences import TEST_SENTENCE_POOL, TRAIN_SENTENCE_POOL, make_sentences
from ddpmss.corpus.voices import CACHE_SR, TTS_PEAK, Voice, synthesize
from ddpmss.files import write_csv

SPLITS = ("train", "val", "test_unseen_voices", "test_unseen_sentences")
CLEAN_COLUMNS = ["path", "voice", "split", "engine", "speaker", "text", "perturbation"]
USES_PER_UTTERANCE = 2  # each utterance appears in about this many mixtures of its split


@dataclass(frozen=True)
class Utterance:
    """One sentence spoken by one voice, cached as a 16 kHz WAV file; a perturbed one is made from
    the unperturbed cache file `source_path` (the same speaker: never mixed with its source's voice)."""

    voice: Voice
    text: str
    sentence_index: int  # position in the seed's sentence bank
    path: Path
    perturbation: Perturbation | None = None
    source_path: Path | None = None

    @property
    def uid(self) -> str:
        return f"{self.voice.name}-{self.sentence_index:04d}"


def plan_utterances(
    voices: list[Voice],
    counts: dict[str, int],
    seed: int,
    cache_dir: Path,
    augmentation: Augmentation | None = None,
) -> dict[str, list[Utterance]]:
    """Decide per split which voice says which sentence (voice, sentence pool and amount).

    Each voice walks its own seeded order of the sentence pool, so a larger corpus extends a
    smaller one and reuses its cached utterances. Val takes the end of that order, train the start.
    With `augmentation`, each train utterance gets a speaker perturbation drawn from the seed, the
    voice and the sentence only (so it does not depend on the corpus size).
    """
    train_voices = [v for v in voices if not v.held_out]
    held_out = [v for v in voices if v.held_out]
    _check_speakers(train_voices, held_out)
    bank = make_sentences(TRAIN_SENTENCE_POOL + TEST_SENTENCE_POOL, seed)
    train_pool = range(TRAIN_SENTENCE_POOL)
    test_pool = range(TRAIN_SENTENCE_POOL, len(bank))

    def per_voice(split: str, n_voices: int) -> int:
        return max(1, math.ceil(2 * counts[split] / (n_voices * USES_PER_UTTERANCE)))

    k_train = min(per_voice("train", len(train_voices)), TRAIN_SENTENCE_POOL * 9 // 10)
    k_val = per_voice("val", len(train_voices))
    k_unseen_s = min(per_voice("test_unseen_sentences", len(train_voices)), TEST_SENTENCE_POOL)
    k_unseen_v = per_voice("test_unseen_voices", len(held_out))

    def utterances(voice: Voice, pool: range, picks: np.ndarray) -> list[Utterance]:
        order = _voice_rng(seed, voice, len(pool)).permutation(len(pool))
        chosen = [pool[i] for i in order[picks]]
        return [Utterance(voice, bank[i], i, _cache_path(cache_dir, voice, bank[i])) for i in chosen]

    plan: dict[str, list[Utterance]] = {split: [] for split in SPLITS}
    for voice in train_voices:
        train = utterances(voice, train_pool, np.arange(k_train))
        plan["train"] += train if augmentation is None else [_perturbed(u, seed, augmentation) for u in train]
        plan["val"] += utterances(voice, train_pool, np.arange(-k_val, 0))
        plan["test_unseen_sentences"] += utterances(voice, test_pool, np.arange(k_unseen_s))
    for voice in held_out:
        plan["test_unseen_voices"] += utterances(voice, train_pool, np.arange(k_unseen_v))
    return plan


def _perturbed(utt: Utterance, seed: int, augmentation: Augmentation) -> Utterance:
    rng = np.random.default_rng([seed, zlib.crc32(utt.voice.name.encode()), utt.sentence_index, 0x5045])
    perturbation = draw_perturbation(rng, augmentation)
    if perturbation == Perturbation():
        return utt
    path = utt.path.with_name(f"{utt.path.stem}-{perturbation.tag}.wav")
    return Utterance(utt.voice, utt.text, utt.sentence_index, path, perturbation, utt.path)


def _check_speakers(train_voices: list[Voice], held_out: list[Voice]) -> None:
    for group, label in ((train_voices, "train"), (held_out, "held-out")):
        if len({v.speaker for v in group}) < 2:
            raise ValueError(f"At least two {label} speakers are needed; found {len(group)} voices.")
    shared = {v.speaker for v in train_voices} & {v.speaker for v in held_out}
    if shared:
        raise ValueError(f"Held-out speakers {sorted(shared)} also occur among train voices.")


def _voice_rng(seed: int, voice: Voice, salt: int) -> np.random.Generator:
    """A generator that depends only on the seed, the voice name and `salt` (stable across runs)."""
    return np.random.default_rng([seed, zlib.crc32(voice.name.encode()), salt])


def _cache_path(cache_dir: Path, voice: Voice, text: str) -> Path:
    """Cache file named by what determines the audio: engine settings, text and rate."""
    sound = f"{voice.engine}|{voice.engine_voice}|{voice.pitch}|{voice.speed}|{text}|{CACHE_SR}"
    key = hashlib.sha1(sound.encode()).hexdigest()[:16]
    return cache_dir / voice.name / f"{key}.wav"


def synthesize_missing(utterances: list[Utterance], workers: int = 2) -> int:
    """Synthesize the utterances not yet cached (in `workers` threads); returns how many."""
    missing = list({u.path: u for u in utterances if not u.path.exists()}.values())

    def make(utt: Utterance) -> None:
        if utt.perturbation is None or utt.source_path is None:
            write_audio(utt.path, synthesize(utt.text, utt.voice, CACHE_SR), CACHE_SR)
            return
        if not utt.source_path.exists():
            write_audio(utt.source_path, synthesize(utt.text, utt.voice, CACHE_SR), CACHE_SR)
        audio, _ = load_audio(utt.source_path, max_seconds=None)  # the cached 16-bit file: same input every run
        write_audio(utt.path, perturb(audio, CACHE_SR, utt.perturbation, TTS_PEAK), CACHE_SR)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in tqdm(pool.map(make, missing), total=len(missing), desc="synthesize", unit="utt"):
            pass
    return len(missing)


def write_clean_list(path: Path, split: str, utterances: list[Utterance]) -> None:
    """CSV of single clean 16 kHz utterances (for vocoder training and testing); `speaker` is the
    voice's speaker also for perturbed utterances, named in `perturbation` (empty when none)."""
    rows = [
        {
            "path": str(u.path.resolve()),
            "voice": u.voice.name,
            "split": split,
            "engine": u.voice.engine,
            "speaker": u.voice.speaker,
            "text": u.text,
            "perturbation": "" if u.perturbation is None else u.perturbation.tag,
        }
        for u in utterances
    ]
    write_csv(path, CLEAN_COLUMNS, rows)
