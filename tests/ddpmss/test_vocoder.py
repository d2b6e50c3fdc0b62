"""Our fast DiffWave sampler equals SpeechBrain's stock sampler with the same noise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from speechbrain.inference.vocoders import DiffWaveVocoder

from ddpmss import vocoder as vocoder_module
from ddpmss.checkpoints import write_random_model
from ddpmss.metrics import si_sdr
from ddpmss.training.loop import read_wav
from ddpmss.vocoder import PAPER_FAST_SCHEDULE, FastDiffWave, MelConfig, MelInversionStart, model_sampler
from tests.support.tiny_models import TINY_DIFFWAVE

SCHEDULE = list(PAPER_FAST_SCHEDULE)
ROOT = Path(__file__).resolve().parents[2]


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


# the shipped vocoder's mel (16 kHz, n_fft 1024, hop 256, 80 slaney mels up to 8 kHz, log magnitude)
SPEECH_MEL = MelConfig(16000, 1024, 1024, 256, 80, 0.0, 8000.0, 1.0, "slaney", "slaney", True)


@pytest.mark.parametrize(("phase", "hop", "limit"), [("pghi", 256, 0.4), ("pghi", 64, 0.5), ("griffin_lim", 256, 0.4)])
def test_the_start_keeps_the_spectrum_and_not_the_phase(phase: str, hop: int, limit: float) -> None:
    """The shallow sampler's start, from real speech, with either phase and at the mel's hop or a quarter of
    it: its log-mel is close to the input's (mean error over the loud bins 0.13 for Griffin-Lim's 32
    iterations, 0.34 for PGHI's one pass, 0.42 for PGHI at hop 64, whose magnitude is interpolated between the
    mel's frames; a white noise of the same level is at 1.28), its waveform is not the input's (no phase is
    kept: SI-SDR far below 0 dB), and it is the same at every call."""
    wav = torch.from_numpy(read_wav(ROOT / "examples" / "real_16k" / "s1.wav", 16000)).unsqueeze(0)
    mel = SPEECH_MEL.mel(wav)
    start = MelInversionStart(SPEECH_MEL, phase, hop_length=hop)(mel)
    assert start.shape == (1, mel.shape[-1] * 256)
    loud = mel > mel.max() - 6  # the bins within 6 nepers (52 dB) of the loudest
    error = (SPEECH_MEL.mel(start[:, : wav.shape[-1]]) - mel)[loud].abs().mean()
    noise_error = (SPEECH_MEL.mel(torch.randn_like(wav) * wav.std()) - mel)[loud].abs().mean()
    assert error < limit and noise_error > 2.5 * error
    assert si_sdr(start[0, : wav.shape[-1]].numpy(), wav[0].numpy()) < -10.0
    assert torch.equal(start, MelInversionStart(SPEECH_MEL, phase, hop_length=hop)(mel))


def test_the_start_hop_divides_the_mel_hop() -> None:
    """The start's STFT hop defaults to the mel's and must divide it (frames are interpolated in between);
    it is part of what a cache of outputs made from the start must key on."""
    assert MelInversionStart(SPEECH_MEL, "pghi").key() == "pghi/256"
    assert MelInversionStart(SPEECH_MEL, "pghi", hop_length=64).key() == "pghi/64"
    with pytest.raises(ValueError, match=r"start_hop_length must divide the mel's hop \(256\), not 100"):
        MelInversionStart(SPEECH_MEL, "pghi", hop_length=100)


def test_shallow_sampling_takes_the_last_steps_from_the_noised_start(vocoder: DiffWaveVocoder) -> None:
    """With `shallow_steps` k the sampler reports k steps, and one step is DiffWave's update of the start
    noised to the first step's level (worked by hand with the stock network)."""
    mel_config = MelConfig.from_hparams(vocoder.hparams)
    mel = mel_config.mel(torch.randn(1, 8000) * 0.1)
    net, diffusion = vocoder.mods.diffwave, vocoder.hparams.diffusion
    start = MelInversionStart(mel_config, "griffin_lim", 8)
    seen: list[tuple[int, int]] = []
    two = FastDiffWave(net, diffusion, SCHEDULE, start=start, shallow_steps=2)
    two(mel, 256, torch.Generator().manual_seed(0), on_step=lambda source, step, steps: seen.append((step, steps)))
    assert seen == [(1, 2), (2, 2)]
    one = FastDiffWave(net, diffusion, SCHEDULE, start=start, shallow_steps=1)(
        mel, 256, torch.Generator().manual_seed(0)
    )
    beta = SCHEDULE[0]
    noised = (1 - beta) ** 0.5 * start(mel) + beta**0.5 * torch.randn(
        one.shape, generator=torch.Generator().manual_seed(0)
    )
    with torch.inference_mode():
        eps = net(noised.unsqueeze(1), torch.tensor([0.0]), mel).squeeze(1)  # the first fast step is step 0
    expected = ((noised - beta / beta**0.5 * eps) / (1 - beta) ** 0.5).clamp(-1, 1)
    assert FastDiffWave(net, diffusion, SCHEDULE).steps[0] == 0.0
    torch.testing.assert_close(one, expected, atol=1e-5, rtol=0)


def test_the_model_says_how_it_is_sampled(vocoder: DiffWaveVocoder) -> None:
    """`model_sampler`: from pure noise on the paper's schedule without sampling keys (the public
    checkpoint), shallow when the hyperparams name `shallow_steps` (0 overrides it: from noise), from Griffin-Lim
    unless they name `start_phase: pghi`, at the mel's hop unless they name `start_hop_length`; a bad count or
    phase is refused."""
    net, diffusion = vocoder.mods.diffwave, vocoder.hparams.diffusion
    plain = model_sampler(dict(TINY_DIFFWAVE), net, diffusion)
    assert plain.start is None and plain.taken == 6 and plain.schedule == SCHEDULE
    shallow = model_sampler({**TINY_DIFFWAVE, "shallow_steps": 2}, net, diffusion)
    assert isinstance(shallow.start, MelInversionStart) and shallow.taken == 2
    assert shallow.start.phase == "griffin_lim"  # without start_phase, as models saved before PGHI
    assert shallow.start.hop_length == 256  # without start_hop_length: the mel's hop
    pghi = model_sampler(
        {**TINY_DIFFWAVE, "shallow_steps": 1, "start_phase": "pghi", "start_hop_length": 64}, net, diffusion
    )
    assert pghi.start.phase == "pghi" and pghi.start.hop_length == 64
    with pytest.raises(ValueError, match="start_phase must be one of pghi, griffin_lim"):
        model_sampler({**TINY_DIFFWAVE, "shallow_steps": 1, "start_phase": "zero"}, net, diffusion)
    assert model_sampler({**TINY_DIFFWAVE, "shallow_steps": 2}, net, diffusion, shallow_steps=0).start is None
    with pytest.raises(ValueError, match="1 to 6 steps"):
        FastDiffWave(net, diffusion, SCHEDULE, start=shallow.start, shallow_steps=7)
