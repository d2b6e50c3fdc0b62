"""Our fast DiffWave sampler equals SpeechBrain's stock sampler with the same noise."""

from __future__ import annotations

import pytest
import torch
from speechbrain.inference.vocoders import DiffWaveVocoder

from ddpmss import vocoder as vocoder_module
from ddpmss.checkpoints import write_random_model
from ddpmss.metrics import si_sdr
from ddpmss.vocoder import PAPER_FAST_SCHEDULE, FastDiffWave, MelConfig
from tests.support.tiny_models import TINY_DIFFWAVE

SCHEDULE = list(PAPER_FAST_SCHEDULE)


@pytest.fixture(scope="module")
def vocoder(tmp_path_factory: pytest.TempPathFactory) -> DiffWaveVocoder:
    folder = write_random_model(tmp_path_factory.mktemp("voc") / "diffwave", "diffwave", seed=3, **TINY_DIFFWAVE)
    model = DiffWaveVocoder.from_hparams(source=str(folder), savedir=None)
    torch.manual_seed(1)
    torch.nn.init.normal_(model.mods.diffwave.output_projection.conv.weight, std=0.1)  # non-trivial output
    return model


def test_mel_settings_come_from_the_model(vocoder: DiffWaveVocoder) -> None:
    mel = MelConfig.from_hparams(vocoder.hparams)
    assert (mel.sample_rate, mel.n_mels, mel.n_fft) == (16000, 20, 512)
    assert mel.mel(torch.randn(2, 16000) * 0.1).shape == (2, 20, 16000 // 256 + 1)


def test_fast_sampler_equals_stock(vocoder: DiffWaveVocoder) -> None:
    mel_config = MelConfig.from_hparams(vocoder.hparams)
    mel = mel_config.mel(torch.randn(1, 8000) * 0.1)
    torch.manual_seed(0)
    stock = vocoder.decode_batch(mel, hop_len=256, fast_sampling=True, fast_sampling_noise_schedule=SCHEDULE)
    torch.manual_seed(0)
    ours = FastDiffWave(vocoder.mods.diffwave, vocoder.hparams.diffusion, SCHEDULE)(mel, 256)
    assert ours.shape == stock.squeeze(1).shape
    torch.testing.assert_close(ours, stock.squeeze(1), atol=1e-5, rtol=0)


def test_bf16_stays_close_to_fp32(vocoder: DiffWaveVocoder) -> None:
    mel = MelConfig.from_hparams(vocoder.hparams).mel(torch.randn(2, 8000) * 0.1)
    outs = {}
    for precision in ("fp32", "bf16"):
        generator = torch.Generator().manual_seed(0)
        outs[precision] = FastDiffWave(vocoder.mods.diffwave, vocoder.hparams.diffusion, SCHEDULE, precision)(
            mel, 256, generator
        )
    for row in range(2):
        assert si_sdr(outs["bf16"][row].numpy(), outs["fp32"][row].numpy()) >= 25.0


@pytest.mark.parametrize("hoist", [True, False])
def test_time_slices_and_unhoisted_conditioners_change_nothing(
    vocoder: DiffWaveVocoder, hoist: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    mel = MelConfig.from_hparams(vocoder.hparams).mel(torch.randn(2, 8000) * 0.1)
    whole = FastDiffWave(vocoder.mods.diffwave, vocoder.hparams.diffusion, SCHEDULE, max_slice=10**9)
    expected = whole(mel, 256, torch.Generator().manual_seed(0))
    if not hoist:
        monkeypatch.setattr(vocoder_module, "HOIST_BUDGET_BYTES", 0)
    sliced = FastDiffWave(vocoder.mods.diffwave, vocoder.hparams.diffusion, SCHEDULE, max_slice=300)
    assert len(sliced._slices(expected.shape[-1])) > 10
    torch.testing.assert_close(sliced(mel, 256, torch.Generator().manual_seed(0)), expected, atol=1e-6, rtol=0)
