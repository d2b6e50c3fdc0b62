"""What raters hear, and proof that they heard it: blind copies of the clips and a log of playback.

`BlindFiles` serves each stimulus under a random name so that nothing in a clip's URL or bytes reveals its
condition; `ListenLog` records the audio players' play/pause/end events per tab, so listening is checked
on the server (an ACR/P.835 clip is accepted only after it was heard to the end).
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

BLIND_MAX_AGE_S = 6 * 3600.0
LISTEN_MAX_AGE_S = 6 * 3600.0
LISTEN_MAX_ENTRIES = 50_000


@dataclass
class _Listen:
    touched: float
    first: float | None = None
    since: float | None = None
    total: float = 0.0
    ended: bool = False


class ListenLog:
    """How long each clip has played in each tab, from the audio players' play/pause/end events.

    Records untouched for LISTEN_MAX_AGE_S are dropped once the log holds more than LISTEN_MAX_ENTRIES.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._clips: dict[tuple[str, str], _Listen] = {}

    def play(self, key: tuple[str, str]) -> None:
        """Playback started (a repeated start while playing changes nothing)."""
        with self._lock:
            entry = self._entry(key)
            entry.first = entry.first if entry.first is not None else entry.touched
            entry.since = entry.since if entry.since is not None else entry.touched

    def pause(self, key: tuple[str, str]) -> None:
        """Playback stopped for any reason."""
        with self._lock:
            self._close(self._entry(key))

    def end(self, key: tuple[str, str]) -> None:
        """Playback reached the end of the clip."""
        with self._lock:
            entry = self._entry(key)
            self._close(entry)
            entry.ended = entry.first is not None

    def heard(self, key: tuple[str, str]) -> tuple[float, bool, bool]:
        """(seconds played so far, whether it ever started, whether it played to the end)."""
        with self._lock:
            entry = self._clips.get(key)
            if entry is None:
                return 0.0, False, False
            running = self._clock() - entry.since if entry.since is not None else 0.0
            return entry.total + running, entry.first is not None, entry.ended

    def completed_seconds(self, key: tuple[str, str]) -> float:
        """Seconds of playback that has stopped: a replay still running does not count yet, so a clip
        skipped to its end and then restarted is not taken as heard however slowly the rating arrives."""
        with self._lock:
            entry = self._clips.get(key)
            return entry.total if entry is not None else 0.0

    def _entry(self, key: tuple[str, str]) -> _Listen:
        now = self._clock()
        if key not in self._clips and len(self._clips) >= LISTEN_MAX_ENTRIES:
            for old in [k for k, e in self._clips.items() if now - e.touched > LISTEN_MAX_AGE_S]:
                del self._clips[old]
        entry = self._clips.setdefault(key, _Listen(now))
        entry.touched = now
        return entry

    def _close(self, entry: _Listen) -> None:
        if entry.since is not None:
            entry.total += entry.touched - entry.since
            entry.since = None


class BlindFiles:
    """Copies of stimuli under random names, tagged with a random WAV comment.

    Neither a clip's URL, file name nor bytes reveal its condition: the open and the hidden MUSHRA
    reference get different files. Copies older than BLIND_MAX_AGE_S are removed.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._last_prune = 0.0

    def copy(self, source: Path) -> Path:
        """A fresh blind copy of the WAV file `source`."""
        token = secrets.token_hex(12)
        dest = self.folder / f"{token}.wav"
        shutil.copyfile(source, dest)
        with sf.SoundFile(dest, "r+") as f:  # metadata only: the samples are untouched
            f.comment = token
        self._prune()
        return dest

    def _prune(self) -> None:
        now = time.time()
        if now - self._last_prune < 600:
            return
        self._last_prune = now
        for path in self.folder.glob("*.wav"):
            try:
                if now - path.stat().st_mtime > BLIND_MAX_AGE_S:
                    path.unlink()
            except OSError:
                continue
