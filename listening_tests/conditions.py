"""The condition vocabulary: what every condition name of a stimulus set means (docs/standards.md).

- `reference`: the clean target talker (MUSHRA's hidden reference).
- `mixture`: the unprocessed two-talker mixture (an anchor for narrow-band MUSHRA material).
- `anchor_lp<Hz>`: the reference low-passed at <Hz> (BS.1534-3 anchors); the cut-off is parsed here only.
- `trap_<answer>` and `gold_<name>`: quality-control checks, screened but never analysed.
- anything else: a processed condition, i.e. a system under test (a pipeline's output).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REFERENCE = "reference"
MIXTURE = "mixture"
CHECK_PREFIXES = ("trap_", "gold_")  # trapping and gold clips (quality control only)
WIDEBAND_ANCHORS = (3500, 7000)  # BS.1534-3 low and mid anchors (low-pass cut-offs in Hz)
NARROWBAND_ANCHORS = (2000,)  # for 8 kHz material: the mixture and a 2 kHz low-pass are the anchors
MID_ANCHOR_HZ = 7000  # BS.1534-3 mid anchor; narrow-band material uses the mixture instead

_ANCHOR_RE = re.compile(r"^anchor_lp([0-9]+)$")


def anchor_condition(cutoff_hz: int) -> str:
    """Condition name of a low-pass anchor, e.g. `anchor_lp3500`."""
    return f"anchor_lp{int(cutoff_hz)}"


def anchor_cutoff(condition: str) -> int | None:
    """The low-pass cut-off in Hz of an anchor condition; None for every other condition."""
    match = _ANCHOR_RE.match(condition)
    return int(match.group(1)) if match else None


def is_anchor(condition: str) -> bool:
    """True for the low-pass anchors."""
    return anchor_cutoff(condition) is not None


def is_check(condition: str) -> bool:
    """True for trapping and gold clips (screening only, never in the statistics)."""
    return condition.startswith(CHECK_PREFIXES)


def is_processed(condition: str) -> bool:
    """True for systems under test: everything but reference, mixture, anchors and checks."""
    return condition not in (REFERENCE, MIXTURE) and not is_anchor(condition) and not is_check(condition)


def report_order(conditions: Iterable[str]) -> list[str]:
    """Distinct conditions in report order: reference, anchors (lowest cut-off first), mixture, the rest."""

    def key(c: str) -> tuple[int, int, str]:
        cutoff = anchor_cutoff(c)
        if c == REFERENCE:
            return 0, 0, c
        if cutoff is not None:
            return 1, cutoff, c
        return (2, 0, c) if c == MIXTURE else (3, 0, c)

    return sorted(set(conditions), key=key)


def anchors_by_cutoff(conditions: Iterable[str]) -> list[str]:
    """The anchor conditions among `conditions`, most degraded (lowest cut-off) first."""
    return sorted((c for c in conditions if is_anchor(c)), key=lambda c: anchor_cutoff(c) or 0)


def mid_anchor(conditions: Iterable[str]) -> str | None:
    """The MUSHRA mid anchor present: the 7 kHz low-pass, else the mixture (narrow-band), else None."""
    present = set(conditions)
    return next((c for c in (anchor_condition(MID_ANCHOR_HZ), MIXTURE) if c in present), None)
