"""Render docs/reliability.md from the figures the reliability tests recorded (one JSON file per section)."""

from __future__ import annotations

from typing import Any

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
    "load_sqlite": "50 raters x 20 ratings at once, SQLite",
    "load_postgresql": "50 raters x 20 ratings at once, PostgreSQL",
    "crash_sqlite": "kill -9 in the middle of the load, restart, resume (SQLite)",
    "crash_postgresql": "kill -9 in the middle of the load, restart, resume (PostgreSQL)",
    "access_results": "Results and reports without credentials",
    "access_events": "Every other event and public route without credentials",
    "access_files": "Stimuli by id only; user-given paths",
    "access_personal_data": "Pseudonymous rater ids and personal data in exports",
}
HIDDEN = {"section", "rows", "measured_at", "machine", "load_average_1min_at_end"}


def render(figures: dict[str, dict[str, Any]], command: str) -> str:
    """Markdown: one table per section with the figures a test measured; sections not run say so."""
    lines = [
        "# Reliability",
        "",
        "What the reliability tests tried against the project and what held. Every figure below was written by",
        f"the tests themselves (`{command}`); a section is rewritten each time its test runs.",
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
