"""Which two utterances a dynamic mixture is made of: always two different speakers, and a share of the
pairs close in pitch.

Random pairs of the training voices are mostly far apart in pitch (a female and a male voice, or two
voices whose engines set different pitches), and pitch is the easiest cue a separator has. On the
training voices' validation utterances the stage-6 separator gains some 3 dB less on pairs whose median
F0 lies within 2 semitones than on pairs more than 5 semitones apart (`python -m ddpmss.training.pairs`,
the model card), and most mixtures of real recordings here are of two men a few semitones apart
(`python -m ddpmss.corpus describe`, docs/corpus.md). `close_share` of the pairs are therefore drawn
among utterances within `close_semitones` of each other, as a hard-example share.

    python -m ddpmss.training.pairs --models offline --utterances corpus_voc/utterances/clean_val.csv
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ddpmss.corpus.augment import median_pitch
from ddpmss.corpus.describe import CLOSE_SEMITONES

FAR_SEMITONES = 5.0
CLOSE = f"pairs within {CLOSE_SEMITONES:g} semitones"
FAR = f"pairs more than {FAR_SEMITONES:g} semitones apart"


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
    `close_share` of the draws pairs utterances whose median pitch is within `close_semitones`."""

    def __init__(
        self,
        speakers: list[str],
        semitones: np.ndarray | None = None,
        close_share: float = 0.0,
        close_semitones: float = CLOSE_SEMITONES,
    ) -> None:
        if len(set(speakers)) < 2:
            raise ValueError("Dynamic mixing needs utterances of at least two speakers.")
        self.speakers = speakers
        self.close_share = close_share if semitones is not None else 0.0
        self.partners: list[np.ndarray] = []
        if self.close_share > 0:
            near = pitch_distances(semitones, speakers) < close_semitones
            self.partners = [np.flatnonzero(row) for row in near]
            if not any(len(p) for p in self.partners):
                raise ValueError(f"No two speakers' utterances are within {close_semitones:g} semitones in pitch.")

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """One pair of different speakers (close in pitch for a share `close_share` of the draws)."""
        if self.close_share > 0 and rng.random() < self.close_share:
            while True:
                a = int(rng.integers(0, len(self.partners)))
                if len(self.partners[a]):
                    return a, int(rng.choice(self.partners[a]))
        while True:
            a, b = rng.integers(0, len(self.speakers), size=2)
            if self.speakers[a] != self.speakers[b]:
                return int(a), int(b)


def si_sdri_by_pitch_distance(
    separate: Callable[[np.ndarray], np.ndarray],
    utterances: list[np.ndarray],
    speakers: list[str],
    sr: int,
    n: int,
    seed: int = 0,
    length_s: float = 2.0,
) -> dict[str, list[float]]:
    """SI-SDRi (dB, mean of the two talkers) of `separate` ((T,) -> (2, T)) on `n` dynamic mixtures of
    close pairs and `n` of far pairs (CLOSE, FAR), the corpus's mixing rule at gains of +-5 dB."""
    from ddpmss.corpus.mixing import mix_pair
    from ddpmss.metrics import match_permutation, si_sdr

    semitones = pitch_semitones(utterances, sr)
    distances = pitch_distances(semitones, speakers)
    for name, found in ((CLOSE, distances < CLOSE_SEMITONES), (FAR, distances > FAR_SEMITONES)):
        if not found.any():
            raise ValueError(f"The utterances hold no {name} of different speakers.")
    pairs, rng = TalkerPairs(speakers), np.random.default_rng(seed)
    gains: dict[str, list[float]] = {CLOSE: [], FAR: []}
    length = int(length_s * sr)
    while min(len(v) for v in gains.values()) < n:
        a, b = pairs.draw(rng)
        distance = abs(semitones[a] - semitones[b])  # NaN (unvoiced) falls in neither bin
        key = CLOSE if distance < CLOSE_SEMITONES else FAR if distance > FAR_SEMITONES else None
        if key is None or len(gains[key]) >= n:
            continue
        mix, *refs = mix_pair(utterances[a][0], utterances[b][0], float(rng.uniform(-5, 5)), length)
        est = separate(mix)[:, : len(mix)]
        perm = match_permutation(est, np.stack(refs))
        gains[key].append(float(np.mean([si_sdr(est[perm[i]], r) - si_sdr(mix, r) for i, r in enumerate(refs)])))
    return gains


def main(argv: list[str] | None = None) -> None:
    from ddpmss.pipelines import Separator
    from ddpmss.settings import Settings
    from ddpmss.training.loop import read_clean_list

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="offline", help="offline, or a folder with sepformer/ diffwave/ fusion/")
    parser.add_argument("--utterances", required=True, help="clean utterance list (path, speaker)")
    parser.add_argument("--n", type=int, default=120, help="mixtures per pitch-distance bin")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not Path(args.utterances).is_file():
        parser.error(f"The utterance list '{args.utterances}' does not exist.")
    separator = Separator.from_settings(Settings(models=args.models))
    sr = separator.sep_sr
    utterances, speakers = read_clean_list(args.utterances, sr)
    try:
        gains = si_sdri_by_pitch_distance(
            lambda mix: separator.run_sepformer(mix, sr), utterances, speakers, sr, args.n, args.seed
        )
    except ValueError as exc:
        parser.error(f"{args.utterances}: {exc}")
    for name, values in gains.items():
        print(f"{name}: SI-SDRi {np.mean(values):.2f} dB (sd {np.std(values):.2f}) over {len(values)} mixtures")


if __name__ == "__main__":
    main()
