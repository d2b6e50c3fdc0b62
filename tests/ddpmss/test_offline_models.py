"""The small offline models shipped in ddpmss/pretrained/: they load through the production code and
really separate a committed example of unseen voices (see ddpmss/pretrained/MODEL_CARD.md)."""

from __future__ import annotations

import numpy as np
import pytest

from ddpmss.audio import load_audio
from ddpmss.metrics import match_permutation, si_sdr, stoi_score
from ddpmss.pipelines import Separator
from ddpmss.settings import EXAMPLES_DIR, OFFLINE_MODELS_DIR, PIPELINES, Settings
from ddpmss.vocoder import PAPER_FAST_SCHEDULE, MelInversionStart, model_fast_schedule

pytestmark = pytest.mark.slow

MAX_SHIPPED_MB = 25.0
MIN_EXAMPLE_SI_SDRI_DB = 3.0  # well above 0 dB (no separation); the model card has the held-out means


def test_shipped_weights_are_in_the_speechbrain_layout_and_within_budget() -> None:
    for model in ("sepformer", "diffwave", "fusion"):
        assert (OFFLINE_MODELS_DIR / model / "hyperparams.yaml").is_file(), model
        assert list((OFFLINE_MODELS_DIR / model).glob("*.ckpt")), model
    total = sum(p.stat().st_size for p in OFFLINE_MODELS_DIR.rglob("*") if p.is_file())
    assert total / 1e6 <= MAX_SHIPPED_MB
    assert (OFFLINE_MODELS_DIR / "MODEL_CARD.md").is_file()


@pytest.mark.slow
def test_offline_models_separate_an_example_of_unseen_voices(tmp_path) -> None:
    separator = Separator.from_settings(Settings(models="offline", device="cpu", cache_dir=tmp_path))
    assert separator.models.offline and "demo models" in separator.models.describe()
    # the shipped vocoder samples with the schedule chosen for it (MODEL_CARD.md), not the paper's, and
    # shallow: its last step only, from a start whose phase PGHI makes (stage 10) at a quarter of the mel's hop
    # (stage 11)
    assert separator.sampler.schedule == model_fast_schedule(separator.vocoder.hparams) != list(PAPER_FAST_SCHEDULE)
    assert isinstance(separator.sampler.start, MelInversionStart) and separator.sampler.taken == 1
    assert separator.sampler.start.key() == "pghi/64"
    folder = EXAMPLES_DIR / "tts_unseen_voices_1"
    mixture, sr = load_audio(folder / "mix.wav", target_sr=16000)
    refs = np.stack([load_audio(folder / f"s{i}.wav", target_sr=16000)[0][: len(mixture)] for i in (1, 2)])
    result = separator.separate(mixture, sr)
    assert set(result.outputs) == set(PIPELINES)
    for estimates in result.outputs.values():
        assert estimates.shape == (2, len(mixture)) and np.all(np.isfinite(estimates))
    estimates = result.outputs["sepformer"]
    perm = match_permutation(estimates, refs)
    gains = [si_sdr(estimates[perm[i]], refs[i]) - si_sdr(mixture, refs[i]) for i in range(2)]
    assert min(gains) > MIN_EXAMPLE_SI_SDRI_DB, gains
    assert all(0.0 <= share <= 1.0 for share in result.details["fusion_d_share"])
    # the phenomenon (MODEL_CARD.md): SepFormer + DiffWave keeps no waveform phase (SI-SDR far below 0 dB)
    # yet stays intelligible (STOI above the 0.71 the from-noise sampler gave on the held-out voices)
    for estimate, ref in zip(result.aligned(refs)["sepformer_diffwave"], refs):
        assert si_sdr(estimate, ref) < -10.0 and stoi_score(estimate, ref, sr, extended=False)[0] > 0.75


def test_the_shipped_fusion_reads_diffwaves_estimate(tmp_path) -> None:
    """Stage 7 (MODEL_CARD.md): the fusion beats SepFormer, and the other talker's DiffWave estimate in place
    of the right one pulls it away from the talker: it uses D's content, not only S and the mixture."""
    separator = Separator.from_settings(Settings(models="offline", device="cpu", cache_dir=tmp_path))
    folder = EXAMPLES_DIR / "tts_unseen_voices_1"
    mixture, sr = load_audio(folder / "mix.wav", target_sr=16000)
    refs = np.stack([load_audio(folder / f"s{i}.wav", target_sr=16000)[0][: len(mixture)] for i in (1, 2)])
    result = separator.separate(mixture, sr)
    order = result.talker_order(refs)
    s, d = result.outputs["sepformer"], result.outputs["sepformer_diffwave"]
    swapped, _ = separator.run_fusion(s, d[::-1].copy(), mixture, sr)

    def mean_si_sdr(estimates: np.ndarray) -> float:
        return float(np.mean([si_sdr(estimates[o], ref) for o, ref in zip(order, refs)]))

    fused = mean_si_sdr(result.outputs["sepformer_diffwave_fusion"])
    assert fused > mean_si_sdr(s)
    assert fused - mean_si_sdr(swapped) > 5.0
