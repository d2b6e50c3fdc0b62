"""The MUSHRA panel's data, free of Gradio: the trial the browser's panel renders and the answer it sends back.

The panel itself is `app/static/mushra.js` (with `mushra.css`), run by a `gr.HTML` in `app.rater`: one transport
for the trial, a button per stimulus switching what is heard, a waveform with a loop region and a vertical
slider per condition. `panel_spec` says what to show (files as local paths; the page module turns them into
URLs) and `read_answer` checks what comes back before `app.steps` saves it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app import messages
from listening_tests.protocols import SCALE_LABELS, MushraOptions

STATIC = Path(__file__).with_name("static")
PANEL_JS = STATIC / "mushra.js"
REDIRECT_JS = STATIC / "redirect.js"  # the crowd rater's return to the study platform (app/rater.py)
PANEL_CSS = STATIC / "mushra.css"
REFERENCE_SLOT = -1  # the open reference is heard but never rated


@dataclass(frozen=True)
class PanelAnswer:
    """A submitted panel: which page it belongs to and one score per condition (None: slider never touched)."""

    page: str
    scores: tuple[float | None, ...]


def panel_spec(
    page: str, reference: str, clips: Sequence[tuple[str, str]], options: MushraOptions
) -> dict[str, object]:
    """The trial the panel renders: the open reference, then (label, file) per blind condition, in page order."""
    stimuli = [{"label": messages.MUSHRA_PANEL["reference"], "audio": reference, "slot": REFERENCE_SLOT}]
    stimuli += [{"label": label, "audio": audio, "slot": slot} for slot, (label, audio) in enumerate(clips)]
    bands = sorted(SCALE_LABELS["mushra"].items(), reverse=True)
    return {
        "page": page,
        "stimuli": stimuli,
        "options": {
            "switching": options.switching,
            "loop": options.loop,
            "exclusiveSliders": options.exclusive_sliders,
        },
        "bands": [label for _, label in bands],  # best first, each a fifth of the 0-100 scale
        "texts": messages.MUSHRA_PANEL,
    }


def read_answer(data: object, n_clips: int) -> PanelAnswer | None:
    """The panel's answer {page, scores: [0-100 or null per condition]}; None when it is not one (a stale page)."""
    if not isinstance(data, Mapping):
        return None
    page, scores = data.get("page"), data.get("scores")
    if not isinstance(page, str) or not isinstance(scores, list) or len(scores) != n_clips:
        return None
    values: list[float | None] = []
    for score in scores:
        if score is None:
            values.append(None)
        elif isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score):
            if not 0 <= score <= 100:
                return None
            values.append(float(score))
        else:
            return None
    return PanelAnswer(page, tuple(values))
