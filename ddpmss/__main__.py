"""Command line: `python -m ddpmss separate | score | fusion-evidence | train-fusion | bench`.

Errors a user can fix (bad audio, unavailable models) print one sentence and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ddpmss.audio import AudioError, load_audio, write_audio
from ddpmss.checkpoints import HPARAMS_DIR
from ddpmss.models import ModelError
from ddpmss.settings import PIPELINES, Settings


def _model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", help="auto | hub | offline | PATH (default: $DDPMSS_MODELS or auto)")
    parser.add_argument("--sepformer", help="SepFormer source: hub id or local SpeechBrain folder")
    parser.add_argument("--vocoder", help="DiffWave source: hub id or local SpeechBrain folder")
    parser.add_argument("--fusion", help="fusion model folder")
    parser.add_argument("--device", help="auto | cpu | cuda")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--threads", type=int)


def _settings(args: argparse.Namespace) -> Settings:
    keys = ("models", "sepformer", "vocoder", "fusion", "device", "precision", "threads")
    return Settings.from_env(**{k: getattr(args, k, None) for k in keys})


def _json_ready(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def cmd_separate(args: argparse.Namespace) -> None:
    from ddpmss.metrics import score
    from ddpmss.pipelines import Separator

    settings = _settings(args)
    limits = {"max_seconds": settings.max_seconds, "max_bytes": int(settings.max_upload_mb * 1e6)}
    mixture, sr = load_audio(args.mixture, min_seconds=settings.min_seconds, **limits)
    refs = None
    if args.refs:
        refs = [load_audio(p, target_sr=settings.output_sr, **limits)[0] for p in args.refs]
    separator = Separator.from_settings(settings)
    print(f"models: {separator.models.describe()}", file=sys.stderr)
    result = separator.separate(mixture, sr, args.pipelines)
    out = Path(args.out)
    report: dict = {
        "models": separator.models.describe(),
        "sample_rate": result.sample_rate,
        "timings_s": result.timings,
        "details": result.details,
        "pipelines": {},
    }
    mix_out = load_audio(args.mixture, target_sr=result.sample_rate, **limits)[0]
    outputs = result.outputs if refs is None else result.aligned(refs)
    for name, estimates in outputs.items():
        entry: dict = {}
        if refs is not None:
            n = min(len(estimates[0]), *(len(r) for r in refs))
            entry["metrics"] = [
                score(estimates[i, :n], refs[i][:n], result.sample_rate, mixture=mix_out[:n]) for i in range(len(refs))
            ]
        entry["files"] = []
        for i, est in enumerate(estimates, start=1):
            path = out / name / f"source{i}.wav"
            entry.setdefault("gain_db", []).append(write_audio(path, est, result.sample_rate))
            entry["files"].append(str(path))
        report["pipelines"][name] = entry
    if refs is not None:
        (out / "metrics.json").write_text(json.dumps(_json_ready(report), indent=2))
    print(json.dumps(_json_ready({"out": str(out), "timings_s": result.timings})))


def cmd_score(args: argparse.Namespace) -> None:
    from ddpmss.metrics import score

    ref, sr = load_audio(args.reference)
    est, _ = load_audio(args.estimate, target_sr=sr)
    result = score(est, ref, sr)
    keys = ("si_sdr", "pesq_nb", "pesq_wb", "stoi", "estoi", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
    print(json.dumps(_json_ready({k: result[k] for k in keys} | {"reasons": result["reasons"]})))


def cmd_fusion_evidence(args: argparse.Namespace) -> None:
    from ddpmss.fusion_evidence import branch_evidence

    ref, sr = load_audio(args.reference)
    s, _ = load_audio(args.sepformer_estimate, target_sr=sr)
    d, _ = load_audio(args.diffwave_estimate, target_sr=sr)
    evidence = branch_evidence(s, d, ref, sr)
    print(json.dumps({k: round(v, 4) for k, v in vars(evidence).items()}))


def cmd_train_fusion(args: argparse.Namespace) -> None:
    from ddpmss.pipelines import Separator
    from ddpmss.training.fusion import train_fusion
    from ddpmss.training.loop import load_config

    overrides = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "segment": args.segment,
        "lr": args.lr,
        "seed": args.seed,
        "checkpoint_every": args.checkpoint_every,
        "cache_dir": args.cache_dir,
        "max_train": args.max_train,
        "val_items": args.val_items,
    }
    config = load_config(args.config, overrides)
    separator = Separator.from_settings(_settings(args))
    print(f"models: {separator.models.describe()}", file=sys.stderr)
    folder = train_fusion(config, args.train, args.val, Path(args.out), separator)
    print(f"best fusion model: {folder}")


def cmd_bench(args: argparse.Namespace) -> None:
    from ddpmss.bench import run_benchmark

    run_benchmark(
        Path(args.json),
        quick=args.quick,
        settings=_settings(args),
        runs=args.runs,
        durations=tuple(args.durations),
        metrics=not args.skip_metrics,
        stimuli=args.stimuli,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ddpmss", description="SepFormer / DiffWave separation lab")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("separate", help="run the pipelines on a mixture and write every estimate")
    p.add_argument("mixture")
    p.add_argument("--out", required=True)
    p.add_argument("--refs", nargs=2, metavar=("S1", "S2"), help="reference sources: adds metrics.json")
    p.add_argument("--pipelines", nargs="+", choices=PIPELINES, default=list(PIPELINES))
    _model_flags(p)
    p.set_defaults(func=cmd_separate)

    p = sub.add_parser("score", help="print the metrics of one estimate against its reference as JSON")
    p.add_argument("estimate")
    p.add_argument("reference")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "fusion-evidence",
        help="print as JSON what a DiffWave estimate could add to the SepFormer estimate of the same talker "
        "(phase coherence with the reference, magnitude closeness, an oracle's SI-SDR gain)",
    )
    p.add_argument("sepformer_estimate")
    p.add_argument("diffwave_estimate")
    p.add_argument("reference")
    p.set_defaults(func=cmd_fusion_evidence)

    p = sub.add_parser("train-fusion", help="train the fusion network on LibriMix-format data")
    p.add_argument("--train", required=True, help="LibriMix CSV or folder with mix/ s1/ s2/")
    p.add_argument("--val", required=True, help="LibriMix CSV or folder with mix/ s1/ s2/")
    p.add_argument("--out", required=True)
    p.add_argument("--config", default=str(HPARAMS_DIR / "train_fusion.yaml"))
    for flag, kind in (
        ("--steps", int),
        ("--batch-size", int),
        ("--segment", int),
        ("--lr", float),
        ("--seed", int),
        ("--checkpoint-every", int),
        ("--max-train", int),
        ("--val-items", int),
    ):
        p.add_argument(flag, type=kind)
    p.add_argument("--cache-dir", help="where frozen SepFormer/vocoder outputs are cached (default OUT/cache)")
    _model_flags(p)
    p.set_defaults(func=cmd_train_fusion)

    p = sub.add_parser("bench", help="time our pipelines against the stock SpeechBrain path")
    p.add_argument("--json", required=True)
    p.add_argument("--quick", action="store_true", help="offline models only, one run (under 3 minutes)")
    p.add_argument("--runs", type=int, help="repetitions per measurement (median; default 3, 1 with --quick)")
    p.add_argument("--durations", type=int, nargs="+", default=[4, 10], help="mixture lengths in seconds")
    p.add_argument("--skip-metrics", action="store_true", help="leave out the metrics-pool timing (CPU-only work)")
    p.add_argument("--stimuli", type=int, help="stimuli scored in the metrics-pool timing (default 20, 4 with --quick)")
    _model_flags(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (AudioError, ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: Interrupted.", file=sys.stderr)
        return 2
    except Exception as exc:  # anything else is still reported as one sentence, never a traceback
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
