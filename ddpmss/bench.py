"""`python -m ddpmss bench`: our pipelines against the stock SpeechBrain path, in one run.

Stock path = how the original research code ran it: `SepformerSeparation.separate_batch` once per
pipeline (3 times for the three pipelines), `DiffWaveVocoder.decode_batch` once per source (for
pipelines 2 and 3), default threading, no inference mode. Ours = `Separator.separate` (SepFormer
once, both sources vocoded in one batched call with step-invariant work hoisted, inference mode, all
cores, and the configured precision).

Full run: the full-size architectures of both public checkpoints (random weights: same compute)
and the offline models, 4 s and 10 s mixtures, median of `runs`. `--quick`: offline models, one run,
metrics for 4 stimuli instead of 20.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ddpmss.audio import load_audio, resample
from ddpmss.checkpoints import write_random_model
from ddpmss.corpus.librimix import read_mixture_list
from ddpmss.metrics import score_many, si_sdr
from ddpmss.pipelines import Separator
from ddpmss.settings import EXAMPLES_DIR, OFFLINE_MODELS_DIR, Settings
from ddpmss.vocoder import FastDiffWave, model_sampler

DURATIONS = (4, 10)


class PeakRss:
    """Peak resident memory (MiB) of this process during a block, sampled every 5 ms from /proc."""

    def __enter__(self) -> "PeakRss":
        self.peak = self.start = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mib())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _median_time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median seconds, peak RSS MiB) over `runs` calls."""
    times, peak = [], 0.0
    for _ in range(runs):
        with PeakRss() as mem:
            started = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        peak = max(peak, mem.peak)
    return statistics.median(times), peak


def synthetic_mixture(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """Two harmonic 'talkers' with syllable envelopes (timing does not depend on the content)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    mix = np.zeros_like(t)
    for f0, rate in ((118.0, 3.1), (205.0, 4.4)):
        env = (0.5 * (1 + np.sin(2 * np.pi * rate * t + rng.uniform(0, 6)))) ** 2
        mix += env * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 10))
    return (0.05 * mix + 0.001 * rng.standard_normal(len(t))).astype(np.float32)


class StockPath:
    """The original research code's way of running the three pipelines; each stage call's wall time
    is recorded in `timings` (stage -> list of seconds)."""

    def __init__(self, separator: Separator) -> None:
        self.sep = separator
        self.timings: dict[str, list[float]] = {"sepformer": [], "vocoder": []}

    def sepformer(self, mix: np.ndarray, sr: int) -> torch.Tensor:
        started = time.perf_counter()
        mix8 = torch.from_numpy(np.asarray(resample(mix, sr, self.sep.sep_sr)))
        out = self.sep.sepformer.separate_batch(mix8.unsqueeze(0))[0].T  # (2, T), autograd on, as stock
        self.timings["sepformer"].append(time.perf_counter() - started)
        return out

    def vocoder(self, sources: torch.Tensor) -> list[torch.Tensor]:
        started = time.perf_counter()
        mel_cfg = self.sep.mel
        out = []
        for source in sources.detach():
            wav = resample(source.unsqueeze(0), self.sep.sep_sr, mel_cfg.sample_rate)
            mel = mel_cfg.mel(wav)
            out.append(
                self.sep.vocoder.decode_batch(
                    mel,
                    hop_len=mel_cfg.hop_length,
                    fast_sampling=True,
                    fast_sampling_noise_schedule=self.sep.sampler.schedule,
                )
            )
        self.timings["vocoder"].append(time.perf_counter() - started)
        return out

    def all_three(self, mix: np.ndarray, sr: int) -> None:
        self.sepformer(mix, sr)  # pipeline 1
        self.vocoder(self.sepformer(mix, sr))  # pipeline 2
        s = self.sepformer(mix, sr)  # pipeline 3: separate and vocode again, then fuse
        d = self.vocoder(s)
        if self.sep.fusion is not None:
            n = min(s.shape[-1], *(x.shape[-1] for x in d))
            fsr = int(self.sep.fusion.hparams.sample_rate)
            s16 = resample(s[:, :n].detach(), self.sep.sep_sr, fsr)
            d16 = resample(torch.cat([x.reshape(1, -1)[:, :n] for x in d]), self.sep.mel.sample_rate, fsr)
            length = min(s16.shape[-1], d16.shape[-1])
            self.sep.fusion.mods.fusion(s16[:, :length], d16[:, :length], s16[:, :length])


def bench_models(label: str, settings: Settings, runs: int, durations: tuple[float, ...] = DURATIONS) -> dict:
    """Stage and end-to-end timings of stock vs ours for one set of models."""
    stock_threads = torch.get_num_threads()
    separator = Separator.from_settings(settings)
    ours_threads = torch.get_num_threads()
    stock = StockPath(separator)
    from_noise = _from_noise_sampler(separator) if separator.sampler.start is not None else None
    result: dict = {"models": separator.models.describe(), "stock_threads": stock_threads, "ours_threads": ours_threads}
    for seconds in durations:
        mix = synthetic_mixture(seconds)
        separator.separate(mix[:16000], 16000)  # warm-up (allocations, oneDNN kernels)
        torch.set_num_threads(stock_threads)
        stock.timings = {"sepformer": [], "vocoder": []}
        stock_all, stock_mem = _median_time(lambda m=mix: stock.all_three(m, 16000), runs)
        # stage times: median over the calls made inside the runs (3 SepFormer, 2 vocoder calls per run)
        stock_sep, stock_voc = (statistics.median(stock.timings[k]) for k in ("sepformer", "vocoder"))
        torch.set_num_threads(ours_threads)
        timings: list[dict] = []
        ours_all, ours_mem = _median_time(lambda m=mix, t=timings: t.append(separator.separate(m, 16000).timings), runs)
        stages = {k: statistics.median(t[k] for t in timings) for k in timings[0]}
        result[f"{seconds}s"] = {
            "all_three": _pair(stock_all, ours_all, seconds),
            "sepformer": _pair(stock_sep, stages["sepformer"], seconds),
            "vocoder": _pair(stock_voc, stages["vocoder"], seconds),
            "fusion_s": stages.get("fusion"),
            "peak_rss_mib": {"stock": round(stock_mem, 1), "ours": round(ours_mem, 1)},
        }
        if from_noise is not None:  # shallow: also our sampler doing the stock path's steps
            same, _ = _median_time(lambda m=mix: _vocode(separator, from_noise, m), runs)
            result[f"{seconds}s"]["vocoder_all_steps_from_noise"] = _pair(stock_voc, same, seconds)
        print(
            f"[{label} {seconds}s] all three: stock {stock_all:.2f}s ours {ours_all:.2f}s "
            f"({stock_all / ours_all:.2f}x); vocoder: stock {stock_voc:.2f}s ours {stages['vocoder']:.2f}s"
        )
    result["vocoder_sampling"] = sampling_line(separator.sampler)
    result["bf16_vs_fp32_si_sdr_db"] = bf16_closeness(separator)
    return result


def sampling_line(sampler: FastDiffWave) -> str:
    """How our vocoder samples, for the report: a shallow sampler does less work than the stock path."""
    steps = len(sampler.schedule)
    if sampler.start is None:
        return f"{steps} steps from noise"
    phase = "PGHI" if sampler.start.phase == "pghi" else "Griffin-Lim"
    return f"shallow: the last {sampler.taken} of {steps} steps, from a {phase} start (hop {sampler.start.hop_length})"


def _from_noise_sampler(separator: Separator) -> FastDiffWave:
    """Our sampler through every step of the model's schedule from pure noise (what the stock path does):
    the like-for-like vocoder of a shallow model."""
    return model_sampler(
        separator.vocoder.hparams,
        separator.sampler.fp32_net,
        separator.vocoder.hparams.diffusion,
        separator.sampler.precision,
        schedule=separator.sampler.schedule,
        shallow_steps=0,
    )


def _vocode(separator: Separator, sampler: FastDiffWave, mix: np.ndarray) -> None:
    """`sampler` on two sources of the mixture's length, from their mel, as the pipeline's vocoder stage."""
    wav = torch.from_numpy(np.stack([mix, mix]).astype(np.float32)).to(separator.device)
    with torch.inference_mode():
        sampler(separator.mel.mel(resample(wav, 16000, separator.mel.sample_rate)), separator.mel.hop_length)


def _pair(stock_s: float, ours_s: float, seconds: float) -> dict:
    return {
        "stock_s": round(stock_s, 4),
        "ours_s": round(ours_s, 4),
        "speedup": round(stock_s / ours_s, 2),
        "stock_rtf": round(stock_s / seconds, 3),
        "ours_rtf": round(ours_s / seconds, 3),
    }


def bf16_closeness(separator: Separator) -> float:
    """Min SI-SDR (dB) of the bf16 vocoder output against fp32 with the same noise, on the clean
    sources of the committed example mixtures (speech: the vocoder's real input)."""
    sources = [
        load_audio(path, target_sr=separator.mel.sample_rate)[0]
        for entry in read_mixture_list(EXAMPLES_DIR / "examples.csv")
        for path in entry.source_paths
    ]
    length = min(len(x) for x in sources)
    wav = torch.from_numpy(np.stack([x[:length] for x in sources]).astype(np.float32))
    mel = separator.mel.mel(wav.to(separator.device))
    outs = {}
    for precision in ("fp32", "bf16"):
        sampler = FastDiffWave(
            separator.vocoder.mods.diffwave, separator.vocoder.hparams.diffusion, separator.sampler.schedule, precision
        )
        generator = torch.Generator(separator.device).manual_seed(0)
        outs[precision] = sampler(mel, separator.mel.hop_length, generator).float().cpu().numpy()
    return round(min(si_sdr(outs["bf16"][i], outs["fp32"][i]) for i in range(len(outs["fp32"]))), 2)


def bench_metrics(n: int = 20, seconds: float = 4.0) -> dict:
    """Metrics for `n` 4 s stimuli in 1 and in 2 single-threaded worker processes (the stimulus
    builder's hot spot), and inline in this process with the libraries' default threading."""
    mix = synthetic_mixture(seconds)
    rng = np.random.default_rng(0)
    jobs = [(mix + 0.01 * rng.standard_normal(len(mix)).astype(np.float32), mix, 16000, None, True) for _ in range(n)]
    out = {}
    for key, workers in (("inline_s", 1), ("workers_1_s", 1), ("workers_2_s", 2)):
        started = time.perf_counter()
        score_many(jobs, workers, pool_for_one=key != "inline_s")
        out[key] = round(time.perf_counter() - started, 2)
    out["speedup"] = round(out["workers_1_s"] / out["workers_2_s"], 2)
    out["speedup_vs_inline"] = round(out["inline_s"] / out["workers_2_s"], 2)
    out["stimuli"] = n
    return out


def run_benchmark(
    out_json: Path,
    quick: bool,
    settings: Settings,
    runs: int | None = None,
    durations: tuple[float, ...] = DURATIONS,
    metrics: bool = True,
    stimuli: int | None = None,
) -> dict:
    """Run everything and write OUT.json; headline keys come from the full-size models (offline with --quick).
    `metrics=False` leaves out the metrics-pool timing (CPU-only work, e.g. when benchmarking a GPU);
    `stimuli`: how many stimuli it scores (default 20, 4 with --quick)."""
    runs = runs or (1 if quick else 3)
    report: dict = {
        "device": settings.resolved_device(),
        "threads": os.cpu_count(),
        "torch_version": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "precision": settings.resolved_precision(),
        "runs": runs,
        "quick": quick,
    }
    results = {}
    if not quick:
        with tempfile.TemporaryDirectory() as tmp:
            write_random_model(Path(tmp) / "sepformer", "sepformer")
            write_random_model(Path(tmp) / "diffwave", "diffwave")
            write_random_model(Path(tmp) / "fusion", "fusion")
            results["full_size"] = bench_models("full-size", _with(settings, models=tmp), runs, durations)
    if (OFFLINE_MODELS_DIR / "sepformer").is_dir():
        results["offline"] = bench_models("offline", _with(settings, models="offline"), runs, durations)
    headline = results.get("full_size") or results.get("offline")
    if headline is None:
        raise ValueError("No models to benchmark: the offline models are missing; run without --quick.")
    for seconds in durations:
        report[f"all_three_{seconds}s"] = headline[f"{seconds}s"]["all_three"]
        report[f"vocoder_{seconds}s"] = headline[f"{seconds}s"]["vocoder"]
    report["headline_models"] = "full_size" if "full_size" in results else "offline"
    report["models"] = results
    if metrics:
        report["metrics_parallel"] = bench_metrics(n=stimuli or (4 if quick else 20))
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=2))
    print(f"wrote {out_json}")
    return report


def _with(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)
