"""Offline speech corpus: multi-speaker TTS, a sentence bank and LibriMix-format 2-speaker mixtures.

No speech corpus or model hub can be reached here, so training and test data are made from
the Debian TTS engines (espeak-ng, flite, festival; mbrola and pico when installed) and from the
few real recordings shipped in Debian packages. Run `python -m ddpmss.data --help`; see
docs/corpus.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ddpmss.audio import load_audio, resample, write_audio

# ---------------------------------------------------------------------------------------------
# Voices
# ---------------------------------------------------------------------------------------------

CACHE_SR = 16000  # synthesized utterances are cached at this rate; mixtures use rates up to it
EDGE_SILENCE_S = 0.1  # silence kept before and after speech
TTS_PEAK = 0.9  # peak level of a synthesized utterance
SYNTH_TIMEOUT_S = 60


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an engine, its voice name and (espeak-ng only) pitch and speed.

    `speaker` names the recorded person behind the voice: two voices that share it (flite slt and
    festival's slt HTS) are never mixed together, and held-out voices share it with no train voice.
    """

    name: str
    engine: str  # espeak-ng, flite, festival, mbrola or pico
    engine_voice: str
    speaker: str
    pitch: int | None = None  # espeak-ng -p, 0-99
    speed: int | None = None  # espeak-ng -s, words per minute
    held_out: bool = False  # kept for the test_unseen_voices split only


def _espeak(name: str, variant: str, pitch: int, speed: int, held_out: bool = False) -> Voice:
    return Voice(f"espeak-{name}", "espeak-ng", variant, f"espeak-{name}", pitch, speed, held_out)


VOICE_CATALOGUE: tuple[Voice, ...] = (
    _espeak("us-m1", "en-us+m1", 45, 165),
    _espeak("us-f2", "en-us+f2", 55, 170),
    _espeak("gb-m3", "en-gb+m3", 40, 160),
    _espeak("gb-f3", "en-gb+f3", 65, 175),
    _espeak("scot-m4", "en-gb-scotland+m4", 35, 155, held_out=True),
    _espeak("rp-m7", "en-gb-x-rp+m7", 30, 170),
    _espeak("carib-f4", "en-029+f4", 60, 160),
    _espeak("nyc-m2", "en-us-nyc+m2", 50, 180),
    _espeak("lancs-f1", "en-gb-x-gbclan+f1", 70, 165),
    _espeak("wmid-m6", "en-gb-x-gbcwmd+m6", 40, 175),
    _espeak("us-klatt", "en-us+klatt", 45, 165),
    _espeak("gb-f5", "en-gb+f5", 75, 150, held_out=True),
    _espeak("us-m5", "en-us+m5", 25, 185),
    _espeak("rp-klatt3", "en-gb-x-rp+klatt3", 55, 160),
    _espeak("us-steph", "en-us+steph", 60, 170),
    Voice("flite-awb", "flite", "awb", "awb", held_out=True),
    Voice("flite-rms", "flite", "rms", "rms"),
    Voice("flite-slt", "flite", "slt", "slt"),
    Voice("flite-kal16", "flite", "kal16", "kal"),
    Voice("festival-kal", "festival", "kal_diphone", "kal"),
    Voice("festival-ked", "festival", "ked_diphone", "ked", held_out=True),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", "slt"),
    Voice("mbrola-us1", "mbrola", "us1", "mbrola-us1", speed=160),
    Voice("mbrola-us2", "mbrola", "us2", "mbrola-us2", speed=165),
    Voice("mbrola-us3", "mbrola", "us3", "mbrola-us3", speed=160, held_out=True),
    Voice("mbrola-en1", "mbrola", "en1", "mbrola-en1", speed=160),
    Voice("pico-en-us", "pico", "en-US", "pico-en-us"),
    Voice("pico-en-gb", "pico", "en-GB", "pico-en-gb", held_out=True),
)

ENGINE_BINARIES = {
    "espeak-ng": "espeak-ng",
    "flite": "flite",
    "festival": "text2wave",
    "mbrola": "mbrola",
    "pico": "pico2wave",
}
FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")
MBROLA_DIRS = (Path("/usr/share/mbrola"), Path("/usr/share/mbrola/voices"))


def list_voices() -> list[Voice]:
    """The catalogue voices whose engine binary and voice data are installed on this machine."""
    return [voice for voice in VOICE_CATALOGUE if _is_installed(voice)]


def get_voice(name: str) -> Voice:
    """An installed voice by name; ValueError naming the choices otherwise."""
    voices = {voice.name: voice for voice in list_voices()}
    if name not in voices:
        raise ValueError(f"Voice '{name}' is not installed here; choose one of {sorted(voices)}.")
    return voices[name]


def _is_installed(voice: Voice) -> bool:
    if shutil.which(ENGINE_BINARIES[voice.engine]) is None:
        return False
    if voice.engine == "flite":
        return voice.engine_voice in _flite_voices()
    if voice.engine == "festival":
        return any(FESTIVAL_VOICE_DIR.glob(f"*/{voice.engine_voice}"))
    if voice.engine == "mbrola":
        has_data = any((d / voice.engine_voice).exists() for d in MBROLA_DIRS)
        return has_data and shutil.which("espeak-ng") is not None
    return True


@lru_cache(maxsize=1)
def _flite_voices() -> tuple[str, ...]:
    listing = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=False).stdout
    return tuple(listing.split(":", 1)[-1].split())


def synthesize(text: str, voice: Voice | str, sr: int = 16000) -> np.ndarray:
    """Speak `text` with `voice`: float32 mono at `sr`, edge silence trimmed to 0.1 s, peak 0.9."""
    if isinstance(voice, str):
        voice = get_voice(voice)
    if not text.strip():
        raise ValueError("There is no text to synthesize.")
    with tempfile.TemporaryDirectory(prefix="ddpmss-tts-") as tmp:
        text_file, wav_file = Path(tmp) / "text.txt", Path(tmp) / "speech.wav"
        text_file.write_text(text.strip() + "\n", encoding="utf-8")
        done = subprocess.run(
            _command(voice, text, text_file, wav_file),
            capture_output=True,
            text=True,
            timeout=SYNTH_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0 or not wav_file.exists():
            detail = (done.stderr.strip().splitlines() or ["no error message"])[-1]
            raise RuntimeError(f"{voice.engine} could not speak with voice {voice.name}: {detail}")
        audio, _ = load_audio(wav_file, target_sr=sr, max_seconds=None)
    audio = _trim_silence(audio, sr)
    return (audio * (TTS_PEAK / np.max(np.abs(audio)))).astype(np.float32)


def _command(voice: Voice, text: str, text_file: Path, wav_file: Path) -> list[str]:
    """The engine's command line writing `wav_file`."""
    if voice.engine == "espeak-ng":
        return [
            "espeak-ng",
            "-v",
            voice.engine_voice,
            "-p",
            str(voice.pitch),
            "-s",
            str(voice.speed),
            "-w",
            str(wav_file),
            "-f",
            str(text_file),
        ]
    if voice.engine == "mbrola":
        return [
            "espeak-ng",
            "-v",
            f"mb-{voice.engine_voice}",
            "-s",
            str(voice.speed),
            "-w",
            str(wav_file),
            "-f",
            str(text_file),
        ]
    if voice.engine == "flite":
        return ["flite", "-voice", voice.engine_voice, "-f", str(text_file), "-o", str(wav_file)]
    if voice.engine == "festival":
        return ["text2wave", "-eval", f"(voice_{voice.engine_voice})", "-o", str(wav_file), str(text_file)]
    return ["pico2wave", "-l", voice.engine_voice, "-w", str(wav_file), text.strip()]


def _trim_silence(x: np.ndarray, sr: int, floor_db: float = -40.0) -> np.ndarray:
    """Keep exactly 0.1 s of silence before and after the speech (padding with zeros if needed).

    Speech is every 10 ms frame within `floor_db` of the loudest one.
    """
    frame = sr // 100
    n_frames = len(x) // frame
    rms = np.sqrt(np.mean(x[: n_frames * frame].reshape(n_frames, frame) ** 2, axis=1))
    active = np.flatnonzero(rms > rms.max() * 10 ** (floor_db / 20))
    start, end = active[0] * frame, (active[-1] + 1) * frame
    pad = int(EDGE_SILENCE_S * sr)
    lead, tail = min(pad, start), min(pad, len(x) - end)
    return np.pad(x[start - lead : end + tail], (pad - lead, pad - tail))


# ---------------------------------------------------------------------------------------------
# Sentence bank: a small grammar of Harvard-like sentences (5-12 words)
# ---------------------------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NOUNS = _words("""
box door lamp chair table window garden river bridge road street house barn fence gate wall
roof floor desk shelf book letter note map card coin ring watch clock bell drum flute horn
rope chain wire hook nail screw hammer saw knife fork spoon plate bowl cup jar pot pan kettle
stove oven bread cake pie soup salt sugar honey milk tea coffee juice apple lemon orange
peach plum grape melon bean corn rice wheat stone rock sand mud clay dust ash smoke cloud
storm wind rain snow frost sun moon star sky field hill valley forest tree branch leaf root
flower seed grass boat ship canoe train truck wagon wheel engine bicycle horse dog cat bird
fish sheep goat pig mouse fox bear deer duck goose hat coat shirt dress glove boot shoe scarf
basket bucket ladder blanket pillow candle mirror brush comb paper pencil ink paint picture
song story game puzzle ticket office market school church kitchen cellar tower harbor island
""")

ADJECTIVES = _words("""
red blue green yellow brown black white gray pink purple golden silver old new young small
large big tiny huge long short tall wide narrow thick thin heavy light dark bright quiet loud
soft hard smooth rough warm cold hot cool wet dry clean dirty fresh stale sweet sour bitter
rich poor cheap fine plain fancy broken empty full round square sharp dull strong weak
""")

EVALUATIVE = _words("easy hard wise foolish safe pleasant useful strange rare common")

ADVERBS = _words("""
quickly slowly quietly loudly gently carefully badly neatly softly firmly calmly gladly
bravely eagerly early late often rarely twice again
""")

NAMES = _words("""
Anna Ben Clara David Emma Frank Grace Henry Irene Jack Kate Leo Mary Nick Olive Paul Rose Sam
Tom Vera Walter Alice Carl Dora Ellen Fred Helen Ivan Julia Mark
""")

POSSESSIVES = _words("His Her Our Their My Your")

NUMBERS = _words("Two Three Four Five Six Ten Twelve Several Many Few")

PLURALS = _words("""
boys girls men women dogs cats birds horses sailors farmers children friends workers
students cooks drivers painters singers neighbors visitors
""")

PREPOSITIONS = _words("""
on in under over near behind beside across along around into onto through toward past
""")

TIMES = (
    "at noon",
    "at night",
    "at dawn",
    "in the morning",
    "in the evening",
    "last winter",
    "last summer",
    "next week",
    "on Sunday",
    "on Monday",
    "every day",
    "after lunch",
    "before dinner",
    "in the spring",
    "by the fire",
)

# (base, past) transitive verbs; the third person is derived by _third_person.
TRANSITIVE = [
    ("carry", "carried"),
    ("push", "pushed"),
    ("pull", "pulled"),
    ("lift", "lifted"),
    ("drop", "dropped"),
    ("kick", "kicked"),
    ("paint", "painted"),
    ("wash", "washed"),
    ("fix", "fixed"),
    ("break", "broke"),
    ("find", "found"),
    ("lose", "lost"),
    ("hide", "hid"),
    ("throw", "threw"),
    ("catch", "caught"),
    ("hold", "held"),
    ("bring", "brought"),
    ("take", "took"),
    ("send", "sent"),
    ("buy", "bought"),
    ("sell", "sold"),
    ("cut", "cut"),
    ("fold", "folded"),
    ("fill", "filled"),
    ("open", "opened"),
    ("close", "closed"),
    ("move", "moved"),
    ("place", "placed"),
    ("drag", "dragged"),
    ("watch", "watched"),
    ("touch", "touched"),
    ("cover", "covered"),
    ("clean", "cleaned"),
    ("build", "built"),
    ("draw", "drew"),
    ("mend", "mended"),
    ("tie", "tied"),
    ("pack", "packed"),
    ("load", "loaded"),
    ("roll", "rolled"),
    ("shake", "shook"),
    ("steal", "stole"),
    ("keep", "kept"),
    ("leave", "left"),
    ("bake", "baked"),
    ("cook", "cooked"),
    ("heat", "heated"),
    ("weigh", "weighed"),
    ("mark", "marked"),
    ("test", "tested"),
    ("check", "checked"),
    ("hang", "hung"),
]

# (base, past) intransitive verbs.
INTRANSITIVE = [
    ("sleep", "slept"),
    ("wait", "waited"),
    ("fall", "fell"),
    ("rest", "rested"),
    ("shine", "shone"),
    ("float", "floated"),
    ("glow", "glowed"),
    ("sink", "sank"),
    ("swing", "swung"),
    ("turn", "turned"),
    ("stand", "stood"),
    ("sit", "sat"),
    ("run", "ran"),
    ("walk", "walked"),
    ("jump", "jumped"),
    ("sing", "sang"),
    ("shiver", "shivered"),
    ("drift", "drifted"),
    ("crash", "crashed"),
    ("hum", "hummed"),
]

SAYING = _words("said knew felt thought noticed heard guessed claimed")

# Upper-case tokens are slots filled from the word lists above.
TEMPLATES = (
    "The ADJ NOUN IPAST ADV.",
    "NAME VPAST the ADJ NOUN.",
    "VBASE the ADJ NOUN TIME.",
    "The NOUN IPAST PREP the NOUN.",
    "The ADJ NOUN VPAST the NOUN PREP the NOUN.",
    "NAME VPAST a ADJ NOUN TIME.",
    "A NOUN VPRES the ADJ NOUN PREP the NOUN.",
    "VBASE the ADJ NOUN PREP the NOUN.",
    "The NOUN was ADJ and the NOUN was ADJ.",
    "NAME and NAME VPAST the NOUN ADV.",
    "It is EVAL to VBASE a NOUN TIME.",
    "NUM ADJ PLURAL VPAST the NOUN TIME.",
    "The NOUN PREP the NOUN IPAST ADV.",
    "NAME SAID that the NOUN was too ADJ.",
    "POSS ADJ NOUN IPAST PREP the NOUN TIME.",
    "The ADJ NOUN IPRES ADV PREP the NOUN.",
    "POSS NOUN VPAST the NOUN and the ADJ NOUN.",
    "VBASE the NOUN ADV and VBASE the ADJ NOUN.",
    "The ADJ NOUN and the ADJ NOUN IPAST PREP the NOUN.",
    "NAME SAID that the ADJ NOUN VPAST the NOUN TIME.",
    "NUM ADJ PLURAL VPAST the ADJ NOUN PREP the NOUN TIME.",
)

TRAIN_SENTENCE_POOL = 2000  # sentences the train/val/unseen-voice utterances draw from
TEST_SENTENCE_POOL = 300  # sentences spoken only in test_unseen_sentences
MIN_WORDS, MAX_WORDS = 5, 12


def make_sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct grammar-made English sentences of 5-12 words, the same for the same seed."""
    rng = random.Random(seed)
    sentences: list[str] = []
    seen: set[str] = set()
    while len(sentences) < n:
        sentence = _fill(rng.choice(TEMPLATES), rng)
        if MIN_WORDS <= len(sentence.split()) <= MAX_WORDS and sentence not in seen:
            seen.add(sentence)
            sentences.append(sentence)
    return sentences


def _fill(template: str, rng: random.Random) -> str:
    slots = {
        "NOUN": lambda: rng.choice(NOUNS),
        "ADJ": lambda: rng.choice(ADJECTIVES),
        "EVAL": lambda: rng.choice(EVALUATIVE),
        "ADV": lambda: rng.choice(ADVERBS),
        "NAME": lambda: rng.choice(NAMES),
        "POSS": lambda: rng.choice(POSSESSIVES),
        "NUM": lambda: rng.choice(NUMBERS),
        "PLURAL": lambda: rng.choice(PLURALS),
        "PREP": lambda: rng.choice(PREPOSITIONS),
        "TIME": lambda: rng.choice(TIMES),
        "SAID": lambda: rng.choice(SAYING),
        "VPAST": lambda: rng.choice(TRANSITIVE)[1],
        "VPRES": lambda: _third_person(rng.choice(TRANSITIVE)[0]),
        "VBASE": lambda: rng.choice(TRANSITIVE)[0],
        "IPAST": lambda: rng.choice(INTRANSITIVE)[1],
        "IPRES": lambda: _third_person(rng.choice(INTRANSITIVE)[0]),
    }
    words = re.sub(r"[A-Z]{2,}", lambda m: slots[m.group()](), template)
    words = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", words)  # a apple -> an apple
    return words[0].upper() + words[1:]


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


# ---------------------------------------------------------------------------------------------
# Utterance bank: which voice says which sentence, synthesized once and cached
# ---------------------------------------------------------------------------------------------

SPLITS = ("train", "val", "test_unseen_voices", "test_unseen_sentences")
USES_PER_UTTERANCE = 2  # each utterance appears in about this many mixtures of its split


@dataclass(frozen=True)
class Utterance:
    """One sentence spoken by one voice, cached as a 16 kHz WAV file."""

    voice: Voice
    text: str
    sentence_index: int  # position in the seed's sentence bank
    path: Path

    @property
    def uid(self) -> str:
        return f"{self.voice.name}-{self.sentence_index:04d}"


def plan_utterances(
    voices: list[Voice], counts: dict[str, int], seed: int, cache_dir: Path
) -> dict[str, list[Utterance]]:
    """Decide per split which voice says which sentence (voice, sentence pool and amount).

    Each voice walks its own seeded order of the sentence pool, so a larger corpus extends a
    smaller one and reuses its cached utterances. Val takes the end of that order, train the start.
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
        plan["train"] += utterances(voice, train_pool, np.arange(k_train))
        plan["val"] += utterances(voice, train_pool, np.arange(-k_val, 0))
        plan["test_unseen_sentences"] += utterances(voice, test_pool, np.arange(k_unseen_s))
    for voice in held_out:
        plan["test_unseen_voices"] += utterances(voice, train_pool, np.arange(k_unseen_v))
    return plan


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
        write_audio(utt.path, synthesize(utt.text, utt.voice, CACHE_SR), CACHE_SR)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in tqdm(pool.map(make, missing), total=len(missing), desc="synthesize", unit="utt"):
            pass
    return len(missing)


def write_clean_list(path: Path, split: str, utterances: list[Utterance]) -> None:
    """CSV of single clean 16 kHz utterances (for vocoder training and testing)."""
    rows = [
        {
            "path": str(u.path.resolve()),
            "voice": u.voice.name,
            "split": split,
            "engine": u.voice.engine,
            "speaker": u.voice.speaker,
            "text": u.text,
        }
        for u in utterances
    ]
    _write_csv(path, ["path", "voice", "split", "engine", "speaker", "text"], rows)


# ---------------------------------------------------------------------------------------------
# Mixing in LibriMix layout
# ---------------------------------------------------------------------------------------------

GAIN_RANGE_DB = 5.0  # s1 is louder than s2 by a gain drawn from [-5, 5] dB
MIX_LEVEL_DB = -25.0  # mixture RMS in dBFS before the peak limit
MIX_PEAK = 0.9  # no mixture or source sample exceeds this
LIBRIMIX_COLUMNS = ["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"]


@dataclass(frozen=True)
class MixturePlan:
    """Two clean sources (keys for a loader: file paths or clip names) and s1's relative gain."""

    mixture_id: str
    sources: tuple[str, str]
    gain_db: float


def draw_pairs(utterances: list[Utterance], n: int, rng: np.random.Generator) -> list[MixturePlan]:
    """`n` distinct pairs of utterances by different speakers saying different sentences."""
    plans: list[MixturePlan] = []
    used: set[frozenset[Path]] = set()
    for _ in range(100 * n + 1000):
        if len(plans) == n:
            return plans
        a, b = (utterances[i] for i in rng.choice(len(utterances), size=2, replace=False))
        key = frozenset((a.path, b.path))
        if a.voice.speaker == b.voice.speaker or a.text == b.text or key in used:
            continue
        used.add(key)
        gain = float(rng.uniform(-GAIN_RANGE_DB, GAIN_RANGE_DB))
        plans.append(MixturePlan(f"{a.uid}_{b.uid}", (str(a.path), str(b.path)), gain))
    raise ValueError(f"Only {len(plans)} of {n} distinct speaker pairs could be drawn; add voices.")


def mix_pair(s1: np.ndarray, s2: np.ndarray, gain_db: float, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LibriMix 'min' mixing: truncate both to the shorter (and max_len), set s1/s2 energy ratio
    to gain_db, then scale everything by one factor so the mix sits near -25 dBFS without any
    sample above 0.9. Returns (mix, s1, s2) with mix == s1 + s2.
    """
    n = min(len(s1), len(s2), max_len)
    s1 = s1[:n] / _rms(s1[:n]) * 10 ** (gain_db / 20)
    s2 = s2[:n] / _rms(s2[:n])
    mix = s1 + s2
    peak = max(np.max(np.abs(x)) for x in (mix, s1, s2))
    scale = min(10 ** (MIX_LEVEL_DB / 20) / _rms(mix), MIX_PEAK / peak)
    s1, s2 = (s1 * scale).astype(np.float32), (s2 * scale).astype(np.float32)
    return s1 + s2, s1, s2


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12


def rate_dir(out: Path, rate: int) -> Path:
    """LibriMix folder for a sample rate, e.g. out/wav8k/min."""
    return out / f"wav{rate / 1000:g}k" / "min"


def write_mixtures(
    plans: list[MixturePlan],
    load: Callable[[str], tuple[np.ndarray, int]],
    out: Path,
    split: str,
    rates: list[int],
    max_seconds: float,
) -> dict[int, float]:
    """Write mix_clean/s1/s2 WAVs and the metadata CSV of one split for every rate.

    `load` turns a source key into (audio, sample_rate). Files of an earlier run that are no longer
    in this split are removed. Returns the seconds of audio written per rate.
    """
    rows: dict[int, list[dict]] = {rate: [] for rate in rates}
    for plan in tqdm(plans, desc=split, unit="mix"):
        sources = [load(key) for key in plan.sources]
        for rate in rates:
            s1, s2 = (resample(x, sr, rate) for x, sr in sources)
            mix, s1, s2 = mix_pair(s1, s2, plan.gain_db, int(max_seconds * rate))
            paths = _mixture_paths(rate_dir(out, rate) / split, plan.mixture_id)
            for path, audio in zip(paths, (mix, s1, s2)):
                write_audio(path, audio, rate)
            row = [plan.mixture_id, *map(str, paths), len(mix)]
            rows[rate].append(dict(zip(LIBRIMIX_COLUMNS, row)))
    for rate in rates:
        split_dir = rate_dir(out, rate) / split
        _remove_stale(split_dir, {p.mixture_id for p in plans})
        _write_csv(rate_dir(out, rate) / "metadata" / f"mixture_{split}_mix_clean.csv", LIBRIMIX_COLUMNS, rows[rate])
    return {rate: sum(r["length"] for r in rows[rate]) / rate for rate in rates}


def _load_cached(path: str) -> tuple[np.ndarray, int]:
    return load_audio(path, max_seconds=None)


def _mixture_paths(split_dir: Path, mixture_id: str) -> tuple[Path, Path, Path]:
    name = f"{mixture_id}.wav"
    return tuple((split_dir / sub / name).resolve() for sub in ("mix_clean", "s1", "s2"))


def _remove_stale(split_dir: Path, keep: set[str]) -> None:
    for sub in ("mix_clean", "s1", "s2"):
        for wav in (split_dir / sub).glob("*.wav"):
            if wav.stem not in keep:
                wav.unlink()


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Write via a temporary file so a reader never sees a half-written list."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def generate_corpus(
    out: Path,
    n_train: int = 3000,
    n_val: int = 200,
    n_test: int = 200,
    seed: int = 0,
    rates: tuple[int, ...] = (8000, 16000),
    max_seconds: float = 4.0,
    voices: list[Voice] | None = None,
    workers: int = 2,
) -> dict:
    """Synthesize (or reuse) the utterance bank under out/utterances and write all four splits.

    Returns a summary: voices per split, utterance and mixture counts, hours per rate and split.
    """
    if any(rate > CACHE_SR for rate in rates):
        raise ValueError(f"Rates above {CACHE_SR} Hz are not supported (utterances are 16 kHz).")
    voices = list_voices() if voices is None else voices
    out = Path(out)
    counts = {"train": n_train, "val": n_val, "test_unseen_voices": n_test, "test_unseen_sentences": n_test}
    plan = plan_utterances(voices, counts, seed, out / "utterances")
    synthesized = synthesize_missing([u for utts in plan.values() for u in utts], workers)
    summary: dict = {"synthesized": synthesized, "splits": {}}
    for index, split in enumerate(SPLITS):
        write_clean_list(out / "utterances" / f"clean_{split}.csv", split, plan[split])
        pairs = draw_pairs(plan[split], counts[split], np.random.default_rng([seed, index]))
        seconds = write_mixtures(pairs, _load_cached, out, split, list(rates), max_seconds)
        summary["splits"][split] = {
            "voices": sorted({u.voice.name for u in plan[split]}),
            "utterances": len(plan[split]),
            "mixtures": len(pairs),
            "hours": {rate: s / 3600 for rate, s in seconds.items()},
        }
    return summary


# ---------------------------------------------------------------------------------------------
# Real recorded speech from Debian packages (codec2-examples, pocketsphinx-testdata)
# ---------------------------------------------------------------------------------------------

CODEC2_RAW = Path("/usr/share/codec2/raw")
POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
LIBRIVOX = POCKETSPHINX_DATA / "librivox" / "sense_and_sensibility_01_austen_64kb-{}.wav"


@dataclass(frozen=True)
class RealClip:
    """A recording shipped in a Debian package; .raw files are headerless 16-bit little-endian."""

    name: str
    path: Path
    sample_rate: int
    speaker: str
    start_s: float = 0.0


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
)
REAL_PACKAGES = "codec2-examples and pocketsphinx-testdata"


def load_clip(clip: RealClip) -> np.ndarray:
    """A real clip as float32 at its native rate, starting at start_s, edge silence trimmed."""
    if clip.path.suffix == ".raw":
        audio = np.fromfile(clip.path, dtype="<i2").astype(np.float32) / 32768
    else:
        audio, _ = load_audio(clip.path, max_seconds=None)
    return _trim_silence(audio[int(clip.start_s * clip.sample_rate) :], clip.sample_rate)


def make_real_corpus(out: Path, seed: int = 0, max_seconds: float = 6.0) -> dict[int, int]:
    """Mix the real recordings into split 'real': all pairs at 8 kHz, 16 kHz-native pairs also at
    16 kHz (8 kHz material is never upsampled into the 16 kHz set). Returns mixtures per rate.
    """
    pairs = [(a, b) for a, b in REAL_PAIRS if CLIPS[a].path.exists() and CLIPS[b].path.exists()]
    if not pairs:
        raise ValueError(f"No real recordings found: install the Debian packages {REAL_PACKAGES}.")
    gains = np.random.default_rng(seed).uniform(-GAIN_RANGE_DB, GAIN_RANGE_DB, size=len(pairs))
    plans = [MixturePlan(f"{a}_{b}", (a, b), float(g)) for (a, b), g in zip(pairs, gains)]
    made = {}
    for rate in (8000, 16000):
        chosen = [p for p in plans if min(CLIPS[s].sample_rate for s in p.sources) >= rate]
        write_mixtures(chosen, _load_clip_by_name, out, "real", [rate], max_seconds)
        made[rate] = len(chosen)
    return made


def _load_clip_by_name(name: str) -> tuple[np.ndarray, int]:
    clip = CLIPS[name]
    return load_clip(clip), clip.sample_rate


# ---------------------------------------------------------------------------------------------
# Committed examples
# ---------------------------------------------------------------------------------------------

EXAMPLE_SR = 16000
EXAMPLE_SECONDS = 3.0


def make_examples(out: Path, seed: int = 0) -> list[str]:
    """Write 4 short 16 kHz example mixtures as out/<id>/{mix,s1,s2}.wav plus out/examples.csv.

    Two mix held-out TTS voices saying held-out sentences; two mix real recordings (one 16 kHz
    native, one 8 kHz material upsampled to 16 kHz). Returns the example ids written.
    """
    out = Path(out)
    sources = _example_tts_sources(seed) + _example_real_sources()
    rng = np.random.default_rng(seed)
    rows = []
    for example_id, s1, s2 in sources:
        gain = float(rng.uniform(-GAIN_RANGE_DB, GAIN_RANGE_DB))
        mix, s1, s2 = mix_pair(s1, s2, gain, int(EXAMPLE_SECONDS * EXAMPLE_SR))
        files = [f"{example_id}/{name}.wav" for name in ("mix", "s1", "s2")]
        for file, audio in zip(files, (mix, s1, s2)):
            write_audio(out / file, audio, EXAMPLE_SR)
        rows.append(dict(zip(LIBRIMIX_COLUMNS, [example_id, *files, len(mix)])))
    if not rows:
        raise ValueError("No example could be made: no held-out TTS voices and no real recordings.")
    _write_csv(out / "examples.csv", LIBRIMIX_COLUMNS, rows)
    return [row["mixture_ID"] for row in rows]


def _example_tts_sources(seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Two pairs of held-out voices (4 different speakers) saying long held-out sentences."""
    voices = list({v.speaker: v for v in list_voices() if v.held_out}.values())[:4]
    bank = make_sentences(TRAIN_SENTENCE_POOL + TEST_SENTENCE_POOL, seed)[TRAIN_SENTENCE_POOL:]
    long_sentences = [s for s in bank if len(s.split()) >= 10]
    half = len(voices) // 2  # pair first half with second half: different engines here
    examples = []
    for index, (a, b) in enumerate(zip(voices[:half], voices[half:]), start=1):
        s1 = synthesize(long_sentences[2 * index], a, EXAMPLE_SR)
        s2 = synthesize(long_sentences[2 * index + 1], b, EXAMPLE_SR)
        examples.append((f"tts_unseen_voices_{index}", s1, s2))
    return examples


def _example_real_sources() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """One 16 kHz-native real pair and one 8 kHz pair upsampled to 16 kHz, when installed."""
    wanted = (("real_16k", REAL_PAIRS[0]), ("real_8k_upsampled", REAL_PAIRS[4]))
    examples = []
    for example_id, names in wanted:
        clips = [CLIPS[name] for name in names]
        if all(clip.path.exists() for clip in clips):
            s1, s2 = (resample(load_clip(c), c.sample_rate, EXAMPLE_SR) for c in clips)
            examples.append((example_id, s1, s2))
    return examples


# ---------------------------------------------------------------------------------------------
# Reading mixture lists (LibriMix CSV or mix/s1/s2 folders)
# ---------------------------------------------------------------------------------------------

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


@dataclass(frozen=True)
class MixtureEntry:
    """One mixture file, its reference sources (s1, s2, ...) and its length in samples if known."""

    mixture_id: str
    mixture_path: Path
    source_paths: tuple[Path, ...]
    length: int | None


def read_mixture_list(path: str | Path) -> list[MixtureEntry]:
    """Read a LibriMix-format CSV or a folder with mix/ (or mix_clean/) and s1/, s2/ subfolders.

    Relative paths in a CSV are resolved against the CSV's folder. Raises ValueError with one
    sentence when the list is missing, malformed, empty or points to files that do not exist.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"The mixture list '{path}' does not exist.")
    entries = _read_folder(path) if path.is_dir() else _read_csv(path)
    if not entries:
        raise ValueError(f"The mixture list '{path}' contains no mixtures.")
    return entries


def _read_csv(path: Path) -> list[MixtureEntry]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        rows = list(reader)
    source_columns = sorted(
        (c for c in columns if re.fullmatch(r"source_\d+_path", c)),
        key=lambda c: int(c.split("_")[1]),
    )
    for column in ("mixture_ID", "mixture_path", "source_1_path"):
        if column not in columns:
            raise ValueError(
                f"The mixture list '{path}' has no '{column}' column (LibriMix columns: {', '.join(LIBRIMIX_COLUMNS)})."
            )
    entries = []
    for line, row in enumerate(rows, start=2):
        files = [_resolve(path, line, row[c]) for c in ["mixture_path", *source_columns]]
        length = row.get("length")
        entries.append(MixtureEntry(row["mixture_ID"], files[0], tuple(files[1:]), int(length) if length else None))
    return entries


def _resolve(csv_path: Path, line: int, value: str | None) -> Path:
    if not value:
        raise ValueError(f"Line {line} of '{csv_path}' has an empty file path.")
    file = Path(value)
    file = file if file.is_absolute() else csv_path.parent / file
    if not file.is_file():
        raise ValueError(f"Line {line} of '{csv_path}' points to '{file}', which does not exist.")
    return file


def _read_folder(folder: Path) -> list[MixtureEntry]:
    mix_dir = next((folder / d for d in ("mix", "mix_clean") if (folder / d).is_dir()), None)
    if mix_dir is None:
        raise ValueError(f"The folder '{folder}' has neither a mix/ nor a mix_clean/ subfolder.")
    source_dirs = sorted(
        (d for d in folder.iterdir() if d.is_dir() and re.fullmatch(r"s\d+", d.name)),
        key=lambda d: int(d.name[1:]),
    )
    if not source_dirs:
        raise ValueError(f"The folder '{folder}' has no s1/ subfolder with reference sources.")
    entries = []
    for mix in sorted(p for p in mix_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
        sources = tuple(d / mix.name for d in source_dirs)
        for source in sources:
            if not source.is_file():
                raise ValueError(f"The mixture '{mix.name}' has no matching file '{source}'.")
        entries.append(MixtureEntry(mix.stem, mix, sources, None))
    return entries


# ---------------------------------------------------------------------------------------------
# A portable subset (for training on a machine the corpus cannot be copied to whole)
# ---------------------------------------------------------------------------------------------


def pack_subset(
    corpus: Path, out: Path, train_per_voice: int = 45, val_per_voice: int = 3, val_mixtures: int = 40, rate: int = 8000
) -> dict[str, int]:
    """Copy a voice-balanced subset into `out` as FLAC with paths relative to the lists:
    `clean_train.csv` / `clean_val.csv` (the first utterances of each voice, in list order) and
    `val{rate//1000}k.csv` (the first validation mixtures at `rate`). The GPU trainings of the model
    card read this (45 per voice: 45 MB, under the device tool's 64 MiB limit). Returns counts."""
    import soundfile as sf

    counts = {}
    for split, per_voice in (("train", train_per_voice), ("val", val_per_voice)):
        with open(corpus / "utterances" / f"clean_{split}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        by_voice: dict[str, list[dict]] = {}
        for row in rows:
            by_voice.setdefault(row["voice"], []).append(row)
        picked = [row for voice in sorted(by_voice) for row in by_voice[voice][:per_voice]]
        (out / split).mkdir(parents=True, exist_ok=True)
        packed = []
        for i, row in enumerate(picked):
            source = Path(row["path"]) if Path(row["path"]).is_absolute() else corpus / "utterances" / row["path"]
            audio, sr = sf.read(source, dtype="int16")  # the cache is 16-bit PCM: lossless
            name = f"{split}/{i:05d}.flac"
            sf.write(out / name, audio, sr, format="FLAC")
            packed.append({**row, "path": name})
        _write_csv(out / f"clean_{split}.csv", list(packed[0]), packed)
        counts[split] = len(packed)
    name = f"val{rate // 1000}k"
    (out / name).mkdir(parents=True, exist_ok=True)
    packed = []
    for entry in read_mixture_list(rate_dir(corpus, rate) / "metadata" / "mixture_val_mix_clean.csv")[:val_mixtures]:
        row = {"mixture_ID": entry.mixture_id, "length": entry.length}
        for key, path in zip(LIBRIMIX_COLUMNS[1:4], (entry.mixture_path, *entry.source_paths)):
            audio, sr = sf.read(path, dtype="float32")
            row[key] = f"{name}/{Path(path).parent.name}_{Path(path).stem}.flac"
            sf.write(out / row[key], audio, sr, format="FLAC", subtype="PCM_24")
        packed.append(row)
    _write_csv(out / f"{name}.csv", LIBRIMIX_COLUMNS, packed)
    counts[name] = len(packed)
    return counts


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """`generate`, `real`, `examples` and `pack` subcommands (see docs/corpus.md)."""
    parser = argparse.ArgumentParser(prog="python -m ddpmss.data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="TTS corpus of 2-speaker mixtures (LibriMix layout)")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--n-train", type=int, default=3000)
    gen.add_argument("--n-val", type=int, default=200)
    gen.add_argument("--n-test", type=int, default=200, help="mixtures per test split")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--rates", type=int, nargs="+", default=[8000, 16000])
    gen.add_argument("--max-seconds", type=float, default=4.0)
    gen.add_argument("--workers", type=int, default=2, help="parallel synthesis processes")
    real = commands.add_parser("real", help="mixtures of real recordings from Debian packages")
    real.add_argument("--out", type=Path, required=True)
    examples = commands.add_parser("examples", help="4 short example mixtures for the repository")
    examples.add_argument("--out", type=Path, required=True)
    pack = commands.add_parser("pack", help="a voice-balanced FLAC subset to train on another machine")
    pack.add_argument("--corpus", type=Path, required=True)
    pack.add_argument("--out", type=Path, required=True)
    pack.add_argument("--train-per-voice", type=int, default=45)
    pack.add_argument("--val-per-voice", type=int, default=3)
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # resampling is light; leave the cores to the synthesizers
    started = time.monotonic()
    if args.command == "generate":
        summary = generate_corpus(
            args.out,
            args.n_train,
            args.n_val,
            args.n_test,
            args.seed,
            tuple(args.rates),
            args.max_seconds,
            workers=args.workers,
        )
        _print_summary(summary)
    elif args.command == "real":
        made = make_real_corpus(args.out)
        print(", ".join(f"{n} real mixtures at {rate} Hz" for rate, n in made.items()))
    elif args.command == "pack":
        counts = pack_subset(args.corpus, args.out, args.train_per_voice, args.val_per_voice)
        print(", ".join(f"{name}: {n}" for name, n in counts.items()))
    else:
        print(f"examples: {', '.join(make_examples(args.out))}")
    print(f"done in {time.monotonic() - started:.0f} s")


def _print_summary(summary: dict) -> None:
    print(f"synthesized {summary['synthesized']} new utterances")
    for split, info in summary["splits"].items():
        hours = ", ".join(f"{h:.2f} h at {rate} Hz" for rate, h in info["hours"].items())
        print(
            f"{split}: {info['mixtures']} mixtures from {info['utterances']} utterances of "
            f"{len(info['voices'])} voices ({hours})"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
