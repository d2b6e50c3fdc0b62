"""Lab jobs: one per browser session, cancelled at the run's next check, and the last runs' times for the
estimate shown before a run (Gradio-free; app/lab.py wires them)."""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Callable


class Cancelled(Exception):
    """The run was cancelled (its tab pressed Cancel or closed)."""


class LabJobs:
    """One lab job per browser session at a time; cancelling a session's job makes its next `stop()` raise.

    Gradio's own cancel ends the waiting request at once, but not the worker thread running the models:
    the run checks its flag between stages and vocoder steps (a second at most with the published models).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, threading.Event] = {}

    def claim(self, session: str) -> threading.Event | None:
        """The new job's cancel flag, or None when the session already has a job."""
        with self._lock:
            if session in self._jobs:
                return None
            self._jobs[session] = threading.Event()
            return self._jobs[session]

    def flag(self, session: str) -> threading.Event:
        """The cancel flag of the session's job (a fresh one when none was claimed, e.g. a direct call)."""
        with self._lock:
            return self._jobs.setdefault(session, threading.Event())

    def cancel(self, session: str) -> None:
        """Stop the session's job at its next check and free the session for a new one."""
        with self._lock:
            flag = self._jobs.pop(session, None)
        if flag is not None:
            flag.set()

    def release(self, session: str, flag: threading.Event) -> None:
        """The job with this flag is over (a newer job of the session keeps its own)."""
        with self._lock:
            if self._jobs.get(session) is flag:
                del self._jobs[session]


class RunTimes:
    """The wall time of the last complete runs, per second of mixture: the estimate shown before a run."""

    def __init__(self, keep: int = 5) -> None:
        self._lock = threading.Lock()
        self._rates: deque[float] = deque(maxlen=keep)

    def record(self, seconds: float, total_s: float) -> None:
        """Keep a complete run's total time `total_s` for a mixture of `seconds`."""
        if seconds > 0 and total_s > 0:
            with self._lock:
                self._rates.append(total_s / seconds)

    def estimate(self, seconds: float) -> tuple[float | None, int]:
        """(seconds a run of a `seconds`-long mixture should take, or None before any run; runs it is from)."""
        with self._lock:
            rates = list(self._rates)
        return (statistics.median(rates) * seconds if rates else None), len(rates)


def stopper(flag: threading.Event) -> Callable[[], None]:
    """A `stop` for `separate` that raises Cancelled once `flag` is set."""

    def stop() -> None:
        if flag.is_set():
            raise Cancelled

    return stop
