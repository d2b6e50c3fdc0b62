"""`python -m app.bench_raters`: rater submission latency with many raters at once through the running app.

Starts `python app.py` on a free loopback port over a generated ACR study (tones with noise as clips, no
models needed; the clips last as long as the example study's 4 s excerpts), then runs `app.rater_load`:
every rater is one Gradio session firing the page's own events over HTTP (load, consent, start, then per
clip: download, play, a wait as long as the clip, end, a pause to choose drawn from `--think-s`, and the
"Save and continue" click). A submission's latency is from sending the rating to the next page's answer.
Prints median and p95 and writes the JSON report.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from app import messages
from app.bench import cpu_model
from app.rater_load import run_load
from ddpmss.audio import write_audio
from listening_tests.stimuli import MANIFEST_COLUMNS, TRIALS_COLUMNS

SR = 16000
CONDITIONS = ("reference", "mixture", "sepformer")
START_LIMIT_S = 120.0
ROOT = Path(__file__).resolve().parent.parent


def write_study(folder: Path, clip_s: float, ratings: int, raters: int) -> Path:
    """An ACR study of `ratings` clips per session (no training, trap or gold pages) over generated clips."""
    rng = np.random.default_rng(0)
    t = np.arange(int(clip_s * SR)) / SR
    items = max(4, ratings)
    rows = []
    for k in range(items):
        for condition in CONDITIONS:
            rel = f"wav/item{k}/{condition}.wav"
            audio = 0.1 * np.sin(2 * np.pi * (150 + 20 * k) * t) + 0.01 * rng.standard_normal(len(t))
            write_audio(folder / "stimuli" / rel, audio.astype(np.float32), SR)
            rows.append({"item_id": f"item{k}", "condition": condition, "path": rel, "duration_s": f"{clip_s:.4f}"})
            rows[-1].update({"sample_rate": SR, "loudness_lufs": "-26.00", "gain_db": "0.00"})
    for name, columns, table in (("manifest.csv", MANIFEST_COLUMNS, rows), ("trials.csv", TRIALS_COLUMNS, [])):
        with open(folder / "stimuli" / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(columns), restval="")
            writer.writeheader()
            writer.writerows(table)
    study = {
        "id": "bench-acr",
        "title": "Rater latency benchmark",
        "protocol": "acr",
        "stimuli": {"manifest": str(folder / "stimuli" / "manifest.csv")},
        "conditions": list(CONDITIONS),
        "items_per_session": ratings,
        "votes_per_stimulus": raters * 2,
        "trapping": 0,
        "gold": 0,
        "training_items": 0,
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study), encoding="utf-8")
    return path


def start_app(folder: Path, study: Path, port: int, db_url: str | None) -> subprocess.Popen:
    """`python app.py` on loopback for `study`; returns once its page answers (the models are not used)."""
    env = {**os.environ, "TMPDIR": str(folder), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    command = [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), "--study", str(study)]
    command += ["--data-dir", str(folder / "data"), "--models", "offline", "--device", "cpu"]
    command += ["--db", db_url] if db_url else []
    with open(folder / "app.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    while not _answers(f"http://127.0.0.1:{port}/config"):
        if process.poll() is not None or time.monotonic() - started > START_LIMIT_S:
            process.kill()
            raise RuntimeError(messages.bench_app_failed((folder / "app.log").read_text()[-2000:]))
        time.sleep(0.25)
    return process


def run_bench(
    out: Path,
    raters: int,
    ratings: int,
    clip_s: float,
    think_s: tuple[float, float],
    db_url: str | None,
    settle_s: float,
) -> dict[str, Any]:
    """Start the app, let its background model loading finish (`settle_s`), run the raters, write the report."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        study = write_study(folder, clip_s, ratings, raters)
        port = _free_port()
        process = start_app(folder, study, port, db_url)
        try:
            time.sleep(settle_s)
            result = run_load(f"http://127.0.0.1:{port}", raters, ratings, seed=1, think_s=think_s)
        finally:
            process.terminate()
            process.wait(timeout=30)
    summary = result.summary()
    report = {
        "command": "python -m app.bench_raters " + " ".join(_args(raters, ratings, clip_s, think_s, db_url)),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "database": "PostgreSQL" if db_url else "SQLite",
        "clip_s": clip_s,
        "think_s": list(think_s),
        "ratings_per_rater": ratings,
        **summary,
        "error_samples": [e for r in result.raters for e in r.errors][:5],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _args(raters: int, ratings: int, clip_s: float, think_s: tuple[float, float], db_url: str | None) -> list[str]:
    low, high = think_s
    found = [f"--raters {raters}", f"--ratings {ratings}", f"--clip-s {clip_s:g}", f"--think-s {low:g} {high:g}"]
    return found + (["--db URL"] if db_url else [])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=messages.RATER_BENCH_DESCRIPTION)
    parser.add_argument("--json", type=Path, default=Path("runs/rater_bench.json"), help="where to write the report")
    parser.add_argument("--raters", type=int, default=50, help="raters at once")
    parser.add_argument("--ratings", type=int, default=10, help="ratings per rater (one session)")
    parser.add_argument("--clip-s", type=float, default=4.0, help="clip length in seconds (the wait to hear it)")
    parser.add_argument("--think-s", type=float, nargs=2, default=(1.0, 3.0), help="pause to answer: min max")
    parser.add_argument("--db", default=None, help="database URL for the app (default: SQLite in a temp folder)")
    parser.add_argument("--settle-s", type=float, default=20.0, help="wait after start-up (models load meanwhile)")
    args = parser.parse_args(argv)
    think = (args.think_s[0], args.think_s[1])
    report = run_bench(args.json, args.raters, args.ratings, args.clip_s, think, args.db, args.settle_s)
    print(messages.rater_bench_summary(report, args.json))


if __name__ == "__main__":
    main()
