"""Objective metrics: SI-SDR (+ improvement), permutation matching, PESQ, STOI/ESTOI, DNSMOS.

SI-SDR is written here (a few lines, float64, zero-mean per the definition of Le Roux et al. 2019);
the perceptual metrics come from their reference packages (pesq, pystoi, speechmos).
A metric that cannot be computed is a missing value (NaN) plus a reason, never an exception.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from ddpmss.audio import resample

EPS = 1e-12
METRIC_NAMES = (
    "si_sdr",
    "si_sdr_i",
    "pesq_nb",
    "pesq_wb",
    "stoi",
    "estoi",
    "dnsmos_sig",
    "dnsmos_bak",
    "dnsmos_ovrl",
)


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    """Scale-invariant SDR in dB of `est` against `ref` (both zero-meaned first)."""
    est = np.asarray(est, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    n = min(est.shape[-1], ref.shape[-1])
    est = est[..., :n] - est[..., :n].mean()
    ref = ref[..., :n] - ref[..., :n].mean()
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + EPS)
    target = alpha * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + EPS) / (np.dot(noise, noise) + EPS)))


def si_sdr_improvement(est: np.ndarray, ref: np.ndarray, mixture: np.ndarray) -> float:
    """SI-SDR of the estimate minus SI-SDR of the unprocessed mixture, against the same reference."""
    return si_sdr(est, ref) - si_sdr(mixture, ref)


def match_permutation(estimates: np.ndarray, references: np.ndarray) -> tuple[int, ...]:
    """Order of estimates that maximises the summed SI-SDR against the references.

    Returns `perm` such that estimates[perm[i]] belongs to references[i]. Chosen by SI-SDR only:
    PESQ can prefer the wrong talker (see tests/data/ddpm-ss-samples/README.md).
    """
    n = len(references)
    scores = np.array([[si_sdr(e, r) for r in references] for e in estimates])
    best = max(itertools.permutations(range(n)), key=lambda p: sum(scores[p[i], i] for i in range(n)))
    return tuple(best)


def pesq_score(est: np.ndarray, ref: np.ndarray, sr: int, mode: str) -> tuple[float, str | None]:
    """PESQ (ITU-T P.862, withdrawn in 2024: a legacy metric). mode 'nb' at 8 kHz, 'wb' at 16 kHz."""
    from pesq import pesq

    rate = 8000 if mode == "nb" else 16000
    if mode == "wb" and sr < 16000:
        return math.nan, f"wide-band PESQ needs a reference sampled at 16 kHz or more (got {sr} Hz)"
    ref_r = resample(np.asarray(ref, dtype=np.float32), sr, rate)
    est_r = resample(np.asarray(est, dtype=np.float32), sr, rate)
    n = min(len(ref_r), len(est_r))
    try:
        return float(pesq(rate, ref_r[:n], est_r[:n], mode)), None
    except Exception as exc:  # pesq raises for silence, too-short input, no utterance found
        return math.nan, f"PESQ-{mode.upper()} not defined: {exc}"


def stoi_score(est: np.ndarray, ref: np.ndarray, sr: int, extended: bool) -> tuple[float, str | None]:
    """STOI (Taal et al.) or ESTOI (Jensen & Taal) from pystoi, at the reference's rate."""
    from pystoi import stoi

    n = min(len(ref), len(est))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(stoi(np.asarray(ref[:n], np.float64), np.asarray(est[:n], np.float64), sr, extended=extended))
    if not math.isfinite(value):
        return math.nan, "STOI not defined: the reference has too few speech frames"
    return value, None


def dnsmos(x: np.ndarray, sr: int, model: object | None = None) -> dict[str, float]:
    """Non-intrusive DNSMOS P.835 (SIG, BAK, OVRL) from the speechmos wheel's ONNX models, at 16 kHz.

    `model`: a speechmos `DNSMOS` object to score with (e.g. `single_thread_dnsmos()`); by default
    speechmos's own, which it creates once per process with onnxruntime's default threading."""
    from speechmos import dnsmos as _dnsmos

    x16 = np.asarray(resample(np.asarray(x, dtype=np.float32), sr, 16000), dtype=np.float64)
    peak = np.max(np.abs(x16))
    if peak > 1.0:  # speechmos requires samples in [-1, 1]
        x16 = x16 / peak
    if model is not None:
        return _p835_scores(model, x16)
    out = _dnsmos.run(x16, sr=16000)
    return {
        "dnsmos_sig": float(out["sig_mos"]),
        "dnsmos_bak": float(out["bak_mos"]),
        "dnsmos_ovrl": float(out["ovrl_mos"]),
    }


def _p835_scores(model: Any, audio: np.ndarray) -> dict[str, float]:
    """SIG, BAK and OVRL exactly as speechmos's `DNSMOS.__call__` computes them (the same windows, the same
    polynomial mapping), without its P.808 model: that model's score is not used here, and skipping it and
    its mel spectrogram saves about a sixth of each window's time.

    The windows are speechmos's: the clip repeated until it is 9.01 s long, 9.01 s windows one second apart,
    and, as there (and in Microsoft's dnsmos_local.py), a window whose float end index rounds one sample short
    is skipped."""
    from speechmos.dnsmos import INPUT_LENGTH, SR

    window = int(INPUT_LENGTH * SR)
    while len(audio) < window:
        audio = np.append(audio, audio)
    scores = []
    for idx in range(int(np.floor(len(audio) / SR) - INPUT_LENGTH) + 1):
        segment = audio[int(idx * SR) : int((idx + INPUT_LENGTH) * SR)]
        if len(segment) < window:
            continue
        raw = model.onnx_sess.run(None, {"input_1": segment.astype(np.float32)[np.newaxis, :]})[0][0]
        scores.append(model.get_polyfit_val(*raw, False))
    sig, bak, ovrl = np.mean(scores, axis=0)
    return {"dnsmos_sig": float(sig), "dnsmos_bak": float(bak), "dnsmos_ovrl": float(ovrl)}


def score(
    est: np.ndarray,
    ref: np.ndarray | None,
    sr: int,
    *,
    mixture: np.ndarray | None = None,
    with_dnsmos: bool = True,
    dnsmos_model: object | None = None,
) -> dict[str, float | dict[str, str]]:
    """All metrics of one estimate. Intrusive metrics need `ref`; SI-SDRi also needs `mixture`;
    `dnsmos_model` as in `dnsmos`.

    Returns a flat dict keyed by METRIC_NAMES (NaN where undefined) plus `reasons`: metric -> why.
    """
    result: dict[str, float] = {name: math.nan for name in METRIC_NAMES}
    reasons: dict[str, str] = {}
    if ref is not None:
        result["si_sdr"] = si_sdr(est, ref)
        if mixture is not None:
            result["si_sdr_i"] = si_sdr_improvement(est, ref, mixture)
        for mode in ("nb", "wb"):
            value, why = pesq_score(est, ref, sr, mode)
            result[f"pesq_{mode}"] = value
            if why:
                reasons[f"pesq_{mode}"] = why
        for key, extended in (("stoi", False), ("estoi", True)):
            value, why = stoi_score(est, ref, sr, extended)
            result[key] = value
            if why:
                reasons[key] = why
    if with_dnsmos:
        try:
            result.update(dnsmos(est, sr, dnsmos_model))
        except Exception as exc:  # e.g. a clip shorter than DNSMOS's window
            reasons["dnsmos"] = f"DNSMOS not defined: {exc}"
    return {**result, "reasons": reasons}


def _score_job(job: tuple) -> dict:
    est, ref, sr, mixture, with_dnsmos = job
    return score(est, ref, sr, mixture=mixture, with_dnsmos=with_dnsmos)


@contextmanager
def metrics_pool(workers: int, *, pool_for_one: bool = False) -> Iterator[Executor | None]:
    """Worker processes for metrics, or None for `workers <= 1` (compute inline) unless `pool_for_one`.

    Processes, not threads: PESQ, STOI and DNSMOS hold the GIL or use their own thread pools. Spawned,
    not forked: forking a process whose torch or server threads are running can deadlock. Each worker
    runs single-threaded (torch, BLAS and DNSMOS's ONNX sessions), so N workers use N cores instead of
    N x all cores fighting each other.
    """
    if workers <= 1 and not pool_for_one:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, workers), mp_context=context, initializer=_single_thread) as pool:
        yield pool


def score_many(jobs: Sequence[tuple], workers: int = 2, *, pool_for_one: bool = False) -> list[dict]:
    """`score` over many (est, ref, sr, mixture, with_dnsmos) jobs, in `workers` processes."""
    with metrics_pool(workers if len(jobs) > 1 else 1, pool_for_one=pool_for_one) as pool:
        if pool is None:
            return [_score_job(job) for job in jobs]
        return list(pool.map(_score_job, jobs))


def _single_thread() -> None:
    """Worker initialiser: one thread for torch, BLAS/OpenMP and the DNSMOS ONNX sessions."""
    import torch
    from speechmos import dnsmos as _dnsmos
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    _dnsmos.dnsmos = single_thread_dnsmos()  # the model speechmos's run() reuses (same model paths)


_DNSMOS_LOCK = threading.Lock()
_DNSMOS: list[object] = []  # the one single-thread model of this process, once built


def single_thread_dnsmos() -> object:
    """speechmos's DNSMOS model (the same ONNX files its run() uses) with one-thread ONNX sessions, built
    once per process and shared (onnxruntime sessions may run from several threads).

    speechmos builds its sessions with onnxruntime's default of one thread per core; beside other work on a
    small machine (a worker process, or the vocoder running at the same time) one thread each keeps the
    threads of both from waiting on each other."""
    with _DNSMOS_LOCK:
        if not _DNSMOS:
            import onnxruntime as ort
            from speechmos import dnsmos as _dnsmos

            models = os.path.join(os.path.dirname(os.path.abspath(_dnsmos.__file__)), "dnsmos_models")
            p808 = os.path.join(models, "model_v8.onnx")
            model = _dnsmos.DNSMOS(os.path.join(models, "sig_bak_ovr.onnx"), p808)
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            cpu = ["CPUExecutionProvider"]
            model.onnx_sess = ort.InferenceSession(model.primary_model_path, options, providers=cpu)
            model.p808_onnx_sess = ort.InferenceSession(p808, options, providers=cpu)
            _DNSMOS.append(model)
        return _DNSMOS[0]
