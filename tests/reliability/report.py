"""Render docs/reliability.md from the figures the reliability tests recorded (one JSON file per section).

    RELIABILITY_FIGURES=DIR RELIABILITY_RATINGS=20 .venv/bin/python -m pytest tests/reliability -q -p no:logging
    .venv/bin/python -m tests.reliability.report --figures DIR [--out docs/reliability.md]

The tests never write the document themselves: they write figure files, and this command renders them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tests.support.paths import ROOT

REPORT = ROOT / "docs" / "reliability.md"
TEST_COMMAND = (
    "RELIABILITY_FIGURES=DIR RELIABILITY_RATINGS=20 .venv/bin/python -m pytest tests/reliability -q -p no:logging"
)
RENDER_COMMAND = ".venv/bin/python -m tests.reliability.report --figures DIR"

# What each section tried, in the order of the issue: bad audio, bad ratings, load and crashes, access.
SECTIONS = {
    "audio_engine": "Bad audio through the engine (`ddpmss.audio` + `Separator`)",
    "audio_cli": "Bad audio through the CLI (`python -m ddpmss separate`, as a subprocess)",
    "audio_app": "Bad audio through the running app's `separate` endpoint",
    "ratings_scores": "Scores out of range or not numbers",
    "ratings_listening": "Ratings before the clip was played",
    "ratings_replays": "Replayed and concurrent submissions",
    "ratings_identity": "Ratings for unknown stimuli, conditions or another rater's session",
    "ratings_text": "Oversized text, SQL and HTML in every text field",
    "ratings_export": "Export and integrity check after all of the above",
    "load_sqlite": "50 raters at once, SQLite",
    "load_postgresql": "50 raters at once, PostgreSQL",
    "crash_sqlite": "kill -9 in the middle of the load, restart, resume (SQLite)",
    "crash_postgresql": "kill -9 in the middle of the load, restart, resume (PostgreSQL)",
    "access_results": "Results and reports without credentials",
    "access_events": "Every other event and public route without credentials",
    "access_files": "Stimuli by id only; user-given paths",
    "access_personal_data": "Pseudonymous rater ids and personal data in exports",
}
HIDDEN = {"section", "rows", "measured_at", "machine", "load_average_1min_at_end"}


def render(figures: dict[str, dict[str, Any]]) -> str:
    """Markdown: one table per section with the figures a test measured; sections not run say so."""
    lines = [
        "# Reliability",
        "",
        "What the reliability tests tried against the project and what held. Every figure below was measured by",
        f"the tests themselves (`{TEST_COMMAND}` writes one figure file per section into DIR)",
        f"and this page is rendered from those files by `{RENDER_COMMAND}`.",
        "Latencies depend on what else the machine was doing: a load average above the core count means other",
        "work (a model training, the load generator itself) shared the cores.",
        "",
    ]
    for key, title in SECTIONS.items():
        lines += [f"## {title}", ""]
        data = figures.get(key)
        if data is None:
            lines += ["Not measured yet (its test has not run on this checkout).", ""]
            continue
        lines += [
            f"Measured {data.get('measured_at', '?')} on {data.get('machine', '?')}"
            f" (1-minute load average at the end: {data.get('load_average_1min_at_end', 'not recorded')}).",
            "",
            "| figure | value |",
            "|---|---|",
        ]
        lines += [f"| {name} | {_cell(value)} |" for name, value in data.items() if name not in HIDDEN]
        lines.append("")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|")


def load_figures(folder: Path) -> dict[str, dict[str, Any]]:
    """The figure files in `folder`, by section (unreadable files are skipped)."""
    found = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        found[data.get("section", path.stem)] = data
    return found


def main(argv: list[str] | None = None) -> int:
    """Render the document from a figures folder; a missing or empty folder is one sentence, exit 2."""
    parser = argparse.ArgumentParser(description="Render docs/reliability.md from the reliability tests' figures")
    parser.add_argument("--figures", type=Path, required=True, help="folder the tests wrote (RELIABILITY_FIGURES)")
    parser.add_argument(
        "--out", type=Path, default=REPORT, help="where to write the page (default docs/reliability.md)"
    )
    args = parser.parse_args(argv)
    figures = load_figures(args.figures) if args.figures.is_dir() else {}
    if not figures:
        print(f"error: the folder '{args.figures}' holds no figure files of the reliability tests.", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(figures), encoding="utf-8")
    print(f"{args.out}: {len(figures)} of {len(SECTIONS)} sections measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
