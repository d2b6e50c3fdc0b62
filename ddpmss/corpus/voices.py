"""Synthetic speakers: the TTS voice catalogue (Debian engines) and `synthesize`.

No speech corpus or model hub can be reached here, so speech is made by espeak-ng, flite,
festival (mbrola and pico when installed); see docs/corpus.md.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ddpmss.audio import load_audio

# Engines that make speech by rule (formant synthesis) rather than from recordings of a person: every
# other engine here joins recorded units (flite, festival's diphones, mbrola) or is a statistical voice
# trained on one speaker's recordings (festival's HTS voices, pico).
RULE_BASED_ENGINES = frozenset({"espeak-ng"})
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
    # espeak-ng's other languages reading the English sentences (accented English: more prosody and phone variety)
    _espeak("de-m3", "de+m3", 40, 160),
    _espeak("fr-f3", "fr-fr+f3", 65, 170),
    _espeak("es-m2", "es+m2", 35, 175),
    _espeak("nl-f2", "nl+f2", 55, 160),
    _espeak("pl-m4", "pl+m4", 45, 150),
    _espeak("hi-f4", "hi+f4", 70, 165),
    Voice("flite-awb", "flite", "awb", "awb", held_out=True),
    Voice("flite-rms", "flite", "rms", "rms"),
    Voice("flite-slt", "flite", "slt", "slt"),
    Voice("flite-kal16", "flite", "kal16", "kal"),
    Voice("festival-kal", "festival", "kal_diphone", "kal"),
    Voice("festival-ked", "festival", "ked_diphone", "ked", held_out=True),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", "slt"),
    # festival's voices of other languages (recorded speakers) reading the English sentences
    Voice("festival-it-lp", "festival", "lp_diphone", "it-lp"),
    Voice("festival-it-pc", "festival", "pc_diphone", "it-pc"),
    Voice("festival-fi-lj", "festival", "suo_fi_lj_diphone", "fi-lj"),
    Voice("festival-fi-mv", "festival", "hy_fi_mv_diphone", "fi-mv"),
    Voice("festival-cs-dita", "festival", "czech_dita", "cs-dita"),
    Voice("festival-cs-krb", "festival", "czech_krb", "cs-krb"),
    Voice("festival-cs-machac", "festival", "czech_machac", "cs-machac"),
    Voice("festival-ca-ona", "festival", "upc_ca_ona_hts", "ca-ona"),
    Voice("festival-ru-nsh", "festival", "msu_ru_nsh_clunits", "ru-nsh"),
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
    audio = trim_silence(audio, sr)
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


def trim_silence(x: np.ndarray, sr: int, floor_db: float = -40.0) -> np.ndarray:
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
