"""`python -m app.bench`: the side-by-side lab end to end on a 4 s mixture, with its stage breakdown.

Here, not in `python -m ddpmss bench`: the lab's run (files, spectrograms, metrics beside the models) lives
in app/, and ddpmss imports nothing from app. It times `run_live` as the page runs it (a warm-up run first,
then the median of `--runs`): when SepFormer's players are ready, when all six are, and when the run is
complete (every spectrogram and metric in). `--api` also times the public `separate` endpoint through
gradio_client against the app served on this machine (upload, run, six files and the JSON back).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from app import lab_run, messages
from app.services import ModelLoader, default_separator_factory, open_services
from ddpmss.audio import load_audio, write_audio
from listening_tests.settings import LabSettings

SECONDS = 4.0


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's name where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def example_mixture(folder: Path, seconds: float = SECONDS) -> Path:
    """A `seconds`-long mixture of real example speech: the committed example mixtures end to end, cut."""
    entries = lab_run.examples()
    parts = [load_audio(entry.mixture_path, target_sr=16000)[0] for entry in entries]
    audio = np.concatenate(parts)[: int(seconds * 16000)]
    if len(audio) < int(seconds * 16000):
        raise ValueError(messages.bench_examples_too_short(seconds))
    path = folder / f"mixture_{seconds:g}s.wav"
    write_audio(path, audio, 16000)
    return path


def time_run(services: Any, mixture: Path) -> dict[str, float]:
    """One live lab run: seconds to SepFormer's players, to all six players, to complete, and its stages."""
    started = time.perf_counter()
    marks: dict[str, float] = {}
    run = None
    for run in lab_run.run_live(services, str(mixture)):
        ready = len(run.files)
        if ready >= 1:
            marks.setdefault("sepformer_players_s", time.perf_counter() - started)
        if ready == len(lab_run.PIPELINES):
            marks.setdefault("all_players_s", time.perf_counter() - started)
    marks["complete_s"] = time.perf_counter() - started
    return {**marks, **{f"stage_{key}_s": value for key, value in run.timings.items()}}


def time_api(services: Any, mixture: Path, runs: int) -> list[float]:
    """Wall seconds of `runs` calls of the public `separate` endpoint through gradio_client (after a warm-up)."""
    from gradio_client import Client, handle_file

    from app.results import admin_access
    from app.ui import build_app, launch_options

    demo = build_app(services, admin_access(services))
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_options(services))
    try:
        client = Client(f"http://127.0.0.1:{services.settings.port}", verbose=False)
        walls = []
        for _ in range(runs + 1):
            started = time.perf_counter()
            client.predict(handle_file(str(mixture)), api_name="/separate")
            walls.append(time.perf_counter() - started)
        return walls[1:]
    finally:
        demo.close()


def run_bench(out: Path, runs: int, threads: int | None, api: bool, port: int) -> dict[str, Any]:
    """Time the lab on a 4 s mixture with the offline models; write and return the report."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "data"
        settings = LabSettings(models="offline", device="cpu", threads=threads or 0, data_dir=data, port=port)
        services = open_services(settings, folder / "runtime", ModelLoader(default_separator_factory(settings)))
        loaded = time.perf_counter()
        separator = services.models.get()
        load_s = time.perf_counter() - loaded
        mixture = example_mixture(folder)
        first = time_run(services, mixture)  # cold: first DNSMOS session, first allocations
        measured = [time_run(services, mixture) for _ in range(runs)]
        report: dict[str, Any] = {
            "command": "python -m app.bench " + " ".join(_args(runs, threads, api)),
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "torch_threads": _torch_threads(),
            "precision": settings.resolved_precision(),
            "models": separator.models.names(),
            "mixture_s": SECONDS,
            "model_load_s": round(load_s, 2),
            "first_run": _rounded(first),
            "runs": runs,
            "warm_median": _rounded({key: statistics.median(r[key] for r in measured) for key in measured[0]}),
            "warm_runs": [_rounded(r) for r in measured],
        }
        if api:
            walls = time_api(services, mixture, runs)
            report["api_separate_median_s"] = round(statistics.median(walls), 3)
            report["api_separate_s"] = [round(w, 3) for w in walls]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 3) for key, value in values.items()}


def _args(runs: int, threads: int | None, api: bool) -> list[str]:
    return [f"--runs {runs}", *([f"--threads {threads}"] if threads else []), *(["--api"] if api else [])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=messages.BENCH_DESCRIPTION)
    parser.add_argument("--json", type=Path, default=Path("runs/lab_bench.json"), help="where to write the report")
    parser.add_argument("--runs", type=int, default=3, help="warm runs timed after one warm-up run (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as the app)")
    parser.add_argument("--api", action="store_true", help="also time the public separate endpoint")
    parser.add_argument("--port", type=int, default=7869, help="the port of the app served for --api")
    args = parser.parse_args(argv)
    report = run_bench(args.json, args.runs, args.threads, args.api, args.port)
    print(messages.bench_summary(report, args.json))


if __name__ == "__main__":
    main()
