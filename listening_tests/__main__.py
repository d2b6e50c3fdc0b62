"""Command line: `python -m listening_tests build | export | analyze | validate | check`.

Every error prints one sentence to stderr and exits with status 2 (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from listening_tests.study import BuildConfig, StudyError, load_study


class CliError(Exception):
    """A problem with the command line itself (message: one sentence)."""


def cmd_build(args: argparse.Namespace) -> None:
    from ddpmss.corpus.librimix import read_mixture_list
    from listening_tests.stimuli.build import build_stimuli

    config, out = BuildConfig(), args.out
    if args.study:
        study = load_study(args.study)
        if study.build is None:
            raise CliError(f"The study {args.study} has no stimuli.build section to build from.")
        config, out = study.build, out or study.stimulus_dir
    mixtures = args.mixtures or config.mixtures
    if mixtures is None or out is None:
        raise CliError("Give --mixtures and --out (or a --study whose build section names them).")
    entries = read_mixture_list(mixtures)
    separator = _separator(args) if config.pipelines else None
    stimuli = build_stimuli(entries, out, config, separator, workers=args.workers, progress=not args.quiet)
    print(f"{len(stimuli.stimuli)} stimuli of {len(stimuli.items)} items: {stimuli.manifest}")


def _separator(args: argparse.Namespace) -> object:
    from ddpmss.pipelines import Separator
    from listening_tests.settings import LabSettings

    separator = Separator.from_settings(LabSettings.from_env(models=args.models, device=args.device))
    print(f"models: {separator.models.describe()}", file=sys.stderr)
    return separator


def cmd_export(args: argparse.Namespace) -> None:
    from listening_tests.export import export_ratings
    from listening_tests.storage import Store

    store = Store(args.db)
    try:
        if args.study and args.study not in store.study_ids():
            raise CliError(f"The database has no study '{args.study}'.")
        count = export_ratings(store, args.out, study_id=args.study)
    finally:
        store.close()
    print(f"{count} ratings written to {args.out}")


def cmd_analyze(args: argparse.Namespace) -> None:
    from listening_tests.analysis import StudyRules
    from listening_tests.report import analyze

    rules, manifest = None, args.manifest
    if args.study:
        study = load_study(args.study)
        rules = StudyRules(args.study.name, study.protocol, study.votes_per_stimulus)
        manifest = manifest or study.manifest
    if manifest is None:
        raise CliError("Give --manifest (or a --study whose stimulus set has one).")
    for path in (args.ratings, manifest):
        if not Path(path).is_file():
            raise CliError(f"The file {path} does not exist.")
    result = analyze(Path(args.ratings), Path(manifest), Path(args.out), study=rules)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"report written to {Path(args.out) / 'report.html'}")


def cmd_validate(args: argparse.Namespace) -> None:
    from listening_tests.stimuli import load_stimulus_set
    from listening_tests.study import check_conditions

    study = load_study(args.study)
    if study.manifest.is_file():
        shown = check_conditions(study, load_stimulus_set(study.manifest).conditions)
        print(f"{study.id}: valid; conditions shown: {', '.join(shown)}")
    else:
        print(f"{study.id}: valid; stimuli not built yet (python -m listening_tests build --study {args.study})")


def cmd_check(args: argparse.Namespace) -> None:
    from listening_tests.storage import Store

    store = Store(args.db)
    try:
        problems = store.integrity_check()
    finally:
        store.close()
    if problems:
        raise CliError(f"The database has {len(problems)} problem(s): {' '.join(problems)}")
    print("database consistent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m listening_tests", description="Listening tests for separation")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build a stimulus set (WAVs + manifest.csv + trials.csv) from mixtures")
    p.add_argument("--mixtures", type=Path, help="LibriMix-format CSV or folder with mix/ s1/ s2/")
    p.add_argument("--out", type=Path, help="stimulus folder (resumes an interrupted build)")
    p.add_argument("--study", type=Path, help="study YAML whose stimuli.build section sets the options")
    p.add_argument("--workers", type=int, default=2, help="processes computing metrics (default 2)")
    p.add_argument("--models", help="auto | hub | offline | PATH (default: $DDPMSS_MODELS or auto)")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("export", help="write ratings.csv (screening applied) from the ratings database")
    p.add_argument("--db", required=True, help="sqlite:///FILE or postgresql+psycopg://USER@HOST/DB")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--study", help="only this study id")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("analyze", help="statistics, plots and report from ratings.csv and manifest.csv")
    p.add_argument("ratings", type=Path)
    p.add_argument("--manifest", type=Path, help="manifest.csv of the stimulus set (default: the --study's)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--study", type=Path, help="study YAML: checks the protocol and the votes each stimulus needs")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("validate", help="check a study file (and its stimulus set when built)")
    p.add_argument("study", type=Path)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("check", help="check the ratings database for inconsistencies")
    p.add_argument("--db", required=True)
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CliError, StudyError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("Interrupted; run the same command again to continue.")
    except Exception as exc:  # every other error is reported as one sentence, never a traceback
        return _fail(_sentence(exc))
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _sentence(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (OSError, ValueError, RuntimeError)):
        return text
    return f"{type(exc).__name__}: {text}"


if __name__ == "__main__":
    sys.exit(main())
