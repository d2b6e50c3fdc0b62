"""Reading one mapping of a YAML file field by field: a wrong value adds a problem and yields the default.

So a study file's every problem is found in one pass and reported at once (listening_tests.study).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any


def unknown_keys(raw: dict, known: Sequence[str], prefix: str, problems: list[str]) -> None:
    """Add a problem for every key of `raw` not in `known`, with the closest known key as a hint."""
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"unknown field '{prefix}{key}'{hint}")


class FieldReader:
    """Typed access to one mapping of the YAML file; wrong values add a problem and yield a default."""

    def __init__(self, raw: dict, prefix: str, problems: list[str]) -> None:
        self.raw, self.prefix, self.problems = raw, prefix, problems

    def _get(self, key: str, default: object, check: Callable[[object], bool], wanted: str) -> Any:
        value = self.raw.get(key, default)
        if value is default or check(value):
            return value
        self.problems.append(f"{self.prefix}{key} must be {wanted} (got {value!r})")
        return default

    def text(self, key: str, *, required: bool = False, max_len: int) -> str:
        """A stripped string (numbers accepted as text) of at most `max_len` characters."""
        if required and self.raw.get(key) in (None, ""):
            self.problems.append(f"{self.prefix}{key} is missing")
            return ""
        value = self._get(key, "", lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "text")
        value = str(value).strip()
        if len(value) > max_len:
            self.problems.append(f"{self.prefix}{key} is longer than {max_len} characters")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        """A whole number from `low` to `high`."""
        return self._get(
            key,
            default,
            lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
            f"a whole number from {low} to {high}",
        )

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A finite number from `low` to `high`, as a float."""
        value = self._get(
            key,
            default,
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and low <= v <= high,
            f"a number from {low:g} to {high:g}",
        )
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        """true or false."""
        return self._get(key, default, lambda v: isinstance(v, bool), "true or false")

    def names(self, key: str, default: Sequence[str]) -> list[str]:
        """A list of strings."""
        return list(
            self._get(
                key,
                tuple(default),
                lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                "a list of names",
            )
        )
