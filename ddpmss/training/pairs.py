"""Which two utterances a dynamic mixture is made of: always two different speakers, a share of the
pairs close in pitch, and a share of two voices made from recordings of a person.

Random pairs of the training voices are mostly far apart in pitch (a female and a male voice, or two
voices whose engines set different pitches), and pitch is the easiest cue a separator has. On the
training voices' validation utterances the stage-6 separator gains some 3 dB less on pairs whose median
F0 lies within 2 semitones than on pairs more than 5 semitones apart (`python -m ddpmss.training.pairs`,
the model card), and most mixtures of real recordings here are of two men a few semitones apart
(`python -m ddpmss.corpus describe`, docs/corpus.md). `close_share` of the pairs are therefore drawn
among utterances within `close_semitones` of each other, as a hard-example share.

Likewise by how the voices make speech: espeak-ng's rule-based voices are most of the training voices,
and the separator does worst on pairs of two voices built from recordings (festival, flite), the kind
of pair closest to a real mixture; `recorded_share` of the pairs are drawn among those.

    python -m ddpmss.training.pairs --models offline --utterances corpus_voc/utterances/clean_val.csv
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ddpmss.corpus.augment import median_pitch
from ddpmss.corpus.describe import CLOSE_SEMITONES
from ddpmss.corpus.voices import RULE_BASED_ENGINES

FAR_SEMITONES = 5.0
CLOSE = f"pairs within {CLOSE_SEMITONES:g} semitones"
FAR = f"pairs more than {FAR_SEMITONES:g} semitones apart"
RULE_BASED_PAIR = "pairs of two rule-based voices"
MIXED_PAIR = "pairs of a rule-based and a recorded voice"
RECORDED_PAIR = "pairs of two recorded voices"
# Bin names, and the bin of an index pair (None: in no bin).
PairBins = tuple[tuple[str, ...], Callable[[int, int], "str | None"]]


def pitch_semitones(utterances: list[np.ndarray], sr: int) -> np.ndarray:
    """Median F0 of each (1, T) utterance in semitones above 100 Hz (NaN where nothing is voiced)."""
    hz = np.array([median_pitch(u[0], sr) for u in utterances])
    with np.errstate(divide="ignore"):
        return np.where(hz > 0, 12 * np.log2(np.maximum(hz, 1e-9) / 100.0), np.nan)


def pitch_distances(semitones: np.ndarray, speakers: list[str]) -> np.ndarray:
    """(n, n) pitch distances in semitones between utterances; NaN for a speaker's own utterances and for
    unvoiced ones, so that no comparison with a limit holds for them."""
    names = np.array(speakers)
    distances = np.abs(semitones[:, None] - semitones[None, :])
    return np.where(names[:, None] != names[None, :], distances, np.nan)


class TalkerPairs:
    """Draws index pairs (a, b) of utterances of different speakers; with `semitones` given, a share
    `close_share` of the draws pairs utterances whose median pitch is within `close_semitones`, and with
    `recorded` given (one flag per utterance: a voice made from recordings of a person), a share
    `recorded_share` pairs two such voices."""

    def __init__(
        self,
        speakers: list[str],
        semitones: np.ndarray | None = None,
        close_share: float = 0.0,
        close_semitones: float = CLOSE_SEMITONES,
        recorded: np.ndarray | None = None,
        recorded_share: float = 0.0,
    ) -> None:
        if len(set(speakers)) < 2:
            raise ValueError("Dynamic mixing needs utterances of at least two speakers.")
        self.speakers = speakers
        self.close_share = close_share if semitones is not None else 0.0
        self.recorded_share = recorded_share if recorded is not None else 0.0
        self.partners: list[np.ndarray] = []
        if self.close_share > 0:
            near = pitch_distances(semitones, speakers) < close_semitones
            self.partners = [np.flatnonzero(row) for row in near]
            if not any(len(p) for p in self.partners):
                raise ValueError(f"No two speakers' utterances are within {close_semitones:g} semitones in pitch.")
        self.recorded = np.flatnonzero(recorded) if self.recorded_share > 0 else np.array([], int)
        if self.recorded_share > 0 and len({speakers[i] for i in self.recorded}) < 2:
            raise ValueError("Fewer than two speakers' voices are made from recordings of a person.")

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """One pair of different speakers (close in pitch, or two recorded voices, for the shares asked)."""
        if self.close_share > 0 or self.recorded_share > 0:
            u = rng.random()
            if u < self.close_share:
                while True:
                    a = int(rng.integers(0, len(self.partners)))
                    if len(self.partners[a]):
                        return a, int(rng.choice(self.partners[a]))
            if u < self.close_share + self.recorded_share:
                return self._any_two(rng, self.recorded)
        return self._any_two(rng, np.arange(len(self.speakers)))

    def _any_two(self, rng: np.random.Generator, among: np.ndarray) -> tuple[int, int]:
        while True:
            a, b = among[rng.integers(0, len(among), size=2)]
            if self.speakers[a] != self.speakers[b]:
                return int(a), int(b)


def recorded_voices(csv_path: str | Path) -> np.ndarray:
    """Per row of a clean utterance list, whether its `engine` makes speech from recordings of a person
    (not a rule-based engine, ddpmss.corpus.voices.RULE_BASED_ENGINES); the order of read_clean_list."""
    with open(csv_path, newline="") as f:
        rows = csv.DictReader(f)
        if "engine" not in (rows.fieldnames or []):
            raise ValueError(f"{Path(csv_path).name} has no engine column to tell recorded voices by.")
        return np.array([row["engine"] not in RULE_BASED_ENGINES for row in rows])


def pitch_bins(semitones: np.ndarray) -> PairBins:
    """CLOSE and FAR by the two utterances' pitch distance (unvoiced ones fall in neither)."""

    def bin_of(a: int, b: int) -> str | None:
        distance = abs(semitones[a] - semitones[b])
        return CLOSE if distance < CLOSE_SEMITONES else FAR if distance > FAR_SEMITONES else None

    return (CLOSE, FAR), bin_of


def voice_kind_bins(recorded: np.ndarray) -> PairBins:
    """RULE_BASED_PAIR, MIXED_PAIR and RECORDED_PAIR by how the two voices make speech."""
    names = (RULE_BASED_PAIR, MIXED_PAIR, RECORDED_PAIR)
    return names, lambda a, b: names[int(recorded[a]) + int(recorded[b])]


def si_sdri_by_bin(
    separate: Callable[[np.ndarray], np.ndarray],
    utterances: list[np.ndarray],
    speakers: list[str],
    bins: PairBins,
    sr: int,
    n: int,
    seed: int = 0,
    length_s: float = 2.0,
) -> dict[str, list[float]]:
    """SI-SDRi (dB, mean of the two talkers) of `separate` ((T,) -> (2, T)) on `n` dynamic mixtures of
    each bin of `bins` (names, and the bin of a pair or None), the corpus's mixing rule at gains of +-5 dB."""
    from ddpmss.corpus.mixing import mix_pair
    from ddpmss.metrics import match_permutation, si_sdr

    names, bin_of = bins
    for name in names:
        if not any(bin_of(a, b) == name for a, b in _speaker_pairs(speakers)):
            raise ValueError(f"The utterances hold no {name} of different speakers.")
    pairs, rng = TalkerPairs(speakers), np.random.default_rng(seed)
    gains: dict[str, list[float]] = {name: [] for name in names}
    length = int(length_s * sr)
    while min(len(v) for v in gains.values()) < n:
        a, b = pairs.draw(rng)
        key = bin_of(a, b)
        if key is None or len(gains[key]) >= n:
            continue
        mix, *refs = mix_pair(utterances[a][0], utterances[b][0], float(rng.uniform(-5, 5)), length)
        est = separate(mix)[:, : len(mix)]
        perm = match_permutation(est, np.stack(refs))
        gains[key].append(float(np.mean([si_sdr(est[perm[i]], r) - si_sdr(mix, r) for i, r in enumerate(refs)])))
    return gains


def _speaker_pairs(speakers: list[str]) -> Iterator[tuple[int, int]]:
    """Every index pair (a < b) of utterances of different speakers, lazily (a search stops at the first)."""
    return ((a, b) for a in range(len(speakers)) for b in range(a + 1, len(speakers)) if speakers[a] != speakers[b])


def main(argv: list[str] | None = None) -> None:
    from ddpmss.pipelines import Separator
    from ddpmss.settings import Settings
    from ddpmss.training.loop import read_clean_list

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="offline", help="offline, or a folder with sepformer/ diffwave/ fusion/")
    parser.add_argument(
        "--utterances", required=True, help="clean utterance list (path, speaker; engine for the voice-kind bins)"
    )
    parser.add_argument("--n", type=int, default=120, help="mixtures per bin")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not Path(args.utterances).is_file():
        parser.error(f"The utterance list '{args.utterances}' does not exist.")
    separator = Separator.from_settings(Settings(models=args.models))
    sr = separator.sep_sr
    utterances, speakers = read_clean_list(args.utterances, sr)
    try:
        tables = [pitch_bins(pitch_semitones(utterances, sr))]
        with open(args.utterances, newline="") as f:
            by_engine = "engine" in next(csv.reader(f), [])
        if by_engine:
            tables.append(voice_kind_bins(recorded_voices(args.utterances)))
        for bins in tables:
            gains = si_sdri_by_bin(
                lambda mix: separator.run_sepformer(mix, sr), utterances, speakers, bins, sr, args.n, args.seed
            )
            for name, values in gains.items():
                print(f"{name}: SI-SDRi {np.mean(values):.2f} dB (sd {np.std(values):.2f}) over {len(values)} mixtures")
    except ValueError as exc:
        parser.error(f"{args.utterances}: {exc}")


if __name__ == "__main__":
    main()
