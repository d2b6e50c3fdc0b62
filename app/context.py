"""What the app serves: the settings, the study and its stimuli, the ratings store and the models.

`open_lab(settings)` is fast: the models load in a background thread (`ModelLoader`) so the page is up
at once; the listening test never needs them.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.rater import BlindFiles, ListenLog
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
        except Exception as exc:  # reported to the user by get() and status()
            self._error = exc
        finally:
            self._done.set()

    def get(self) -> Any:
        """The loaded separator (starts loading if needed and waits); re-raises the loading error."""
        self.start()
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._separator

    def status(self) -> str:
        """One line for the page: which models are in use, or that they are still loading."""
        if not self._done.is_set():
            return "Models: loading in the background (the first separation waits for them)."
        if self._error is not None:
            return f"Models: not available. {self._error}"
        return f"Models: {self._separator.models.describe()}"


@dataclass
class Lab:
    """Everything the callbacks share (one per process)."""

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
    """Load the three pipelines' models from the settings (imports torch only when called)."""

    def load() -> Any:
        from ddpmss.pipelines import Separator

        return Separator.from_settings(settings)

    return load


def open_lab(settings: LabSettings, runtime_dir: Path, models: ModelLoader | None = None) -> Lab:
    """Open the store, load the study and its built stimuli; problems with the study are kept, not raised."""
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime_dir.mkdir(parents=True, exist_ok=True)
    lab = Lab(
        settings=settings,
        store=Store(settings.db_url),
        models=models or ModelLoader(default_separator_factory(settings)),
        runtime_dir=runtime_dir,
        secret=_secret(data_dir / SECRET_FILE),
        blind=BlindFiles(runtime_dir / "blind"),
    )
    try:
        lab.study = load_study(settings.study)
        lab.stimuli = load_stimulus_set(lab.study.manifest)
        lab.store.register_study(lab.study, lab.stimuli)
    except BuildError:
        lab.study_problem = (
            f"The stimuli of the study '{lab.study.id}' are not built yet: run "
            f"python -m listening_tests build --study {settings.study}"
        )
        if lab.study.build is not None:
            lab.study_problem = (
                f"The stimuli of the study '{lab.study.id}' are being prepared (first start, a few "
                "minutes); please reload this page shortly."
            )
    except (StudyError, StoreError) as exc:
        lab.study_problem = str(exc)
    return lab


def prepare_stimuli(lab: Lab) -> threading.Thread | None:
    """On a first start, build the study's stimuli in the background with the app's models."""
    if lab.stimuli is not None or lab.study is None or lab.study.build is None:
        return None

    def build() -> None:
        from listening_tests.stimuli.build import build_study_stimuli

        try:
            stimuli = build_study_stimuli(lab.study, lab.models.get(), progress=False)
            lab.store.register_study(lab.study, stimuli)
            lab.stimuli = stimuli
            lab.study_problem = None
        except Exception as exc:  # shown to raters and printed; the app keeps serving the lab tab
            lab.study_problem = f"The stimuli of the study '{lab.study.id}' could not be built: {exc}"
        print(study_line(lab), flush=True)

    thread = threading.Thread(target=build, name="stimulus-builder", daemon=True)
    thread.start()
    return thread


def study_line(lab: Lab) -> str:
    """One line naming the study served (or why none is)."""
    if lab.study_problem or lab.study is None or lab.stimuli is None:
        return f"study: none ({lab.study_problem})"
    return (
        f"study: {lab.study.id} ({lab.study.protocol}, {len(lab.stimuli.stimuli)} stimuli of "
        f"{len(lab.stimuli.items)} items) from {lab.study.path}"
    )


def _secret(path: Path) -> str:
    """A random secret kept in the data directory, so browser storage survives restarts."""
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    value = secrets.token_urlsafe(24)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(value, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return value


def models_line(settings: LabSettings) -> str:
    """One line naming the models that will be loaded (the `auto` hub probe takes at most hub_timeout_s)."""
    from ddpmss.models import ModelError, resolve_sources

    try:
        return f"models: {resolve_sources(settings).describe()} (loading in the background)"
    except ModelError as exc:
        return f"models: not available: {exc}"
