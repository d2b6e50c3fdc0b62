"""What the pages share: the settings, the study and its stimuli, the ratings store, the models and the
per-process playback caches, gathered in one `Services` object.

`open_services(settings)` is fast: the models load in a background thread (`ModelLoader`) so the page is
up at once; the listening test never needs them.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import messages
from app.playback import BlindFiles, ListenLog
from ddpmss.files import atomic_path
from ddpmss.models import ModelError
from listening_tests.settings import LabSettings
from listening_tests.stimuli import BuildError, StimulusSet, load_stimulus_set
from listening_tests.storage import Store, StoreError
from listening_tests.study import Study, StudyError, load_study

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SECRET_FILE = ".app_secret"


class ModelLoader:
    """Loads the separator once, in a background thread; `get()` waits for it."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._done = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        self._separator: Any = None
        self._error: Exception | None = None

    def start(self) -> None:
        """Begin loading (once); returns at once."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()

    def _load(self) -> None:
        try:
            self._separator = self._factory()
        except Exception as exc:  # the server log gets the reason (it may name server paths), users a sentence
            self._error = exc
            print(f"models: not available: {exc}", file=sys.stderr, flush=True)
        finally:
            self._done.set()

    def get(self) -> Any:
        """The loaded separator (starts loading if needed and waits); a loading error becomes ModelError with
        one sentence that names no server path (the reason is in the server log and in `__cause__`)."""
        self.start()
        self._done.wait()
        if self._error is not None:
            raise ModelError(messages.MODELS_FAILED) from self._error
        return self._separator

    def status(self) -> str:
        """One line for the page: which models are in use, or that they are still loading."""
        if not self._done.is_set():
            return messages.MODELS_LOADING
        if self._error is not None:
            return messages.MODELS_UNAVAILABLE
        return messages.models_in_use(self._separator.models.names())


@dataclass
class Services:
    """Everything the pages' callbacks share (one per process)."""

    settings: LabSettings
    store: Store
    models: ModelLoader
    runtime_dir: Path  # served scratch files (outside data_dir, which is never served)
    secret: str  # persistent: encrypts the rater id kept in browser storage
    blind: BlindFiles  # blind copies of the stimuli served to raters
    study: Study | None = None
    stimuli: StimulusSet | None = None
    study_problem: str | None = None  # why the listening test cannot run now (shown to raters)
    listens: ListenLog = field(default_factory=ListenLog)

    @property
    def loopback(self) -> bool:
        """True when the app listens on this machine only."""
        return self.settings.host in LOOPBACK_HOSTS


def default_separator_factory(settings: LabSettings) -> Callable[[], Any]:
    """Load the three pipelines' models from the settings (imports torch only when called), with
    `model_threads` threads for torch."""

    def load() -> Any:
        from ddpmss.pipelines import Separator

        return Separator.from_settings(settings.model_copy(update={"threads": model_threads(settings)}))

    return load


def model_threads(settings: LabSettings, cores: int | None = None) -> int:
    """Torch threads for the app's models: DDPMSS_THREADS when set, else one core fewer than the machine has
    (at least one). A lab run scores its outputs in a worker thread while the models run, and torch's
    threads wait on each other when a core they count on is busy: on the 2-core machine of
    docs/benchmarks.md a lab run took half the time with one torch thread instead of two."""
    return settings.threads or max(1, (cores or os.cpu_count() or 1) - 1)


def open_services(settings: LabSettings, runtime_dir: Path, models: ModelLoader | None = None) -> Services:
    """Open the store, load the study and its built stimuli; problems with the study are kept, not raised."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir.mkdir(parents=True, exist_ok=True)
    services = Services(
        settings=settings,
        store=Store(settings.db_url),
        models=models or ModelLoader(default_separator_factory(settings)),
        runtime_dir=runtime_dir,
        secret=_secret(data_dir / SECRET_FILE),
        blind=BlindFiles(runtime_dir / "blind"),
    )
    try:
        services.study = load_study(settings.study)
        services.stimuli = load_stimulus_set(services.study.manifest)
        services.store.register_study(services.study, services.stimuli)
    except BuildError:
        services.study_problem = (
            messages.stimuli_not_built(services.study.id, settings.study)
            if services.study.build is None
            else messages.stimuli_preparing(services.study.id)
        )
    except (StudyError, StoreError) as exc:
        services.study_problem = str(exc)
    return services


def prepare_stimuli(services: Services) -> threading.Thread | None:
    """On a first start, build the study's stimuli in the background with the app's models."""
    if services.stimuli is not None or services.study is None or services.study.build is None:
        return None

    def build() -> None:
        from listening_tests.stimuli.build import build_study_stimuli

        try:
            stimuli = build_study_stimuli(services.study, services.models.get(), progress=False)
            services.store.register_study(services.study, stimuli)
            services.stimuli = stimuli
            services.study_problem = None
        except Exception as exc:  # shown to raters and printed; the app keeps serving the lab tab
            services.study_problem = messages.stimuli_failed(services.study.id, exc)
        print(study_line(services), flush=True)

    thread = threading.Thread(target=build, name="stimulus-builder", daemon=True)
    thread.start()
    return thread


def study_line(services: Services) -> str:
    """One line naming the study served (or why none is)."""
    if services.study_problem or services.study is None or services.stimuli is None:
        return f"study: none ({services.study_problem})"
    return (
        f"study: {services.study.id} ({services.study.protocol}, {len(services.stimuli.stimuli)} stimuli of "
        f"{len(services.stimuli.items)} items) from {services.study.path}"
    )


def _secret(path: Path) -> str:
    """A random secret kept in the data directory, so browser storage survives restarts."""
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    value = secrets.token_urlsafe(24)
    with atomic_path(path) as tmp:
        tmp.write_text(value, encoding="utf-8")
        tmp.chmod(0o600)
    return value


def models_line(settings: LabSettings) -> str:
    """One line naming the models that will be loaded (the `auto` hub probe takes at most hub_timeout_s)."""
    from ddpmss.models import resolve_sources

    try:
        return f"models: {resolve_sources(settings).describe()} (loading in the background)"
    except ModelError as exc:
        return f"models: not available: {exc}"
