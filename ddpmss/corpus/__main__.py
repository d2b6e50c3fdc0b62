"""Command line for the offline corpus: `python -m ddpmss.corpus {generate,real,examples,pack,describe}`.

See docs/corpus.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from ddpmss.corpus.augment import Augmentation
from ddpmss.corpus.describe import describe_lists
from ddpmss.corpus.examples import make_examples
from ddpmss.corpus.generate import generate_corpus
from ddpmss.corpus.pack import pack_subset
from ddpmss.corpus.real import make_real_corpus


def main(argv: list[str] | None = None) -> None:
    """`generate`, `real`, `examples`, `pack` and `describe` subcommands (see docs/corpus.md)."""
    parser = argparse.ArgumentParser(
        prog="python -m ddpmss.corpus",
        description="Offline speech corpus: TTS and real 2-speaker mixtures in the LibriMix layout.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="TTS corpus of 2-speaker mixtures (LibriMix layout)")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--n-train", type=int, default=3000)
    gen.add_argument("--n-val", type=int, default=200)
    gen.add_argument("--n-test", type=int, default=200, help="mixtures per test split")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--rates", type=int, nargs="+", default=[8000, 16000])
    gen.add_argument("--max-seconds", type=float, default=4.0)
    gen.add_argument("--workers", type=int, default=2, help="parallel synthesis processes")
    gen.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="speaker perturbation, level and reverberation on the train split (other splits stay as they are)",
    )
    gen.add_argument(
        "--reverb-share", type=float, default=Augmentation.reverb_share, help="share of train mixtures in a room"
    )
    gen.add_argument(
        "--level-range",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=Augmentation.level_range_db,
        help="train mixture RMS range, dBFS",
    )
    real = commands.add_parser("real", help="mixtures of real recordings from Debian packages")
    real.add_argument("--out", type=Path, required=True)
    examples = commands.add_parser("examples", help="4 short example mixtures for the repository")
    examples.add_argument("--out", type=Path, required=True)
    pack = commands.add_parser("pack", help="a voice-balanced FLAC subset to train on another machine")
    pack.add_argument("--corpus", type=Path, required=True)
    pack.add_argument("--out", type=Path, required=True)
    pack.add_argument("--train-per-voice", type=int, default=45)
    pack.add_argument("--val-per-voice", type=int, default=3)
    describe = commands.add_parser("describe", help="channel profile of the sources of mixture lists")
    describe.add_argument("lists", nargs="*", type=Path, help="LibriMix mixture lists (CSV) or folders")
    describe.add_argument(
        "--with-channel", action="store_true", help="profile each source after a random recording channel"
    )
    describe.add_argument(
        "--dev-recordings", action="store_true", help="also profile the real recordings kept for this check"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # resampling is light; leave the cores to the synthesizers
    started = time.monotonic()
    if args.command == "generate":
        summary = generate_corpus(
            args.out,
            args.n_train,
            args.n_val,
            args.n_test,
            args.seed,
            tuple(args.rates),
            args.max_seconds,
            workers=args.workers,
            augmentation=_augmentation(args, parser),
        )
        _print_summary(summary)
    elif args.command == "real":
        for split, made in make_real_corpus(args.out).items():
            print(f"{split}: " + ", ".join(f"{n} mixtures at {rate} Hz" for rate, n in made.items()))
    elif args.command == "describe":
        if not args.lists and not args.dev_recordings:
            parser.error("describe needs at least one mixture list, or --dev-recordings.")
        try:
            print(describe_lists(args.lists, args.with_channel, args.dev_recordings))
        except ValueError as exc:  # read_mixture_list's one sentence naming the list
            parser.error(str(exc))
    elif args.command == "pack":
        counts = pack_subset(args.corpus, args.out, args.train_per_voice, args.val_per_voice)
        print(", ".join(f"{name}: {n}" for name, n in counts.items()))
    else:
        print(f"examples: {', '.join(make_examples(args.out))}")
    print(f"done in {time.monotonic() - started:.0f} s")


def _augmentation(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Augmentation | None:
    if not args.augment:
        return None
    if not 0 <= args.reverb_share <= 1:
        parser.error(f"--reverb-share must be between 0 and 1, not {args.reverb_share}.")
    low, high = sorted(args.level_range)
    if high > -1:
        parser.error(f"--level-range must stay below -1 dBFS, not {high}.")
    return Augmentation(reverb_share=args.reverb_share, level_range_db=(low, high))


def _print_summary(summary: dict) -> None:
    print(f"synthesized {summary['synthesized']} new utterances")
    for split, info in summary["splits"].items():
        hours = ", ".join(f"{h:.2f} h at {rate} Hz" for rate, h in info["hours"].items())
        print(
            f"{split}: {info['mixtures']} mixtures from {info['utterances']} utterances of "
            f"{len(info['voices'])} voices ({hours})"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
