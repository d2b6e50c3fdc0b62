"""The side-by-side lab tab: upload (checked at once), Separate, six players with spectrograms and metrics
shown pipeline by pipeline, quick ratings, the tab's earlier runs. The public API endpoint `separate` (six
WAV files and a JSON result, at the end) is an event of its own; the work itself is Gradio-free in
app/lab_run.py (runs) and app/lab_jobs.py (jobs, cancel, run times).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gradio as gr

from app import messages
from app.lab_export import write_zip
from app.lab_history import load_run, prune_runs, save_run
from app.lab_jobs import Cancelled, LabJobs, RunTimes, stopper
from app.lab_run import (
    PIPELINE_TITLES,
    TALKERS,
    USER_ERRORS,
    LabRun,
    conversion_line,
    example_files,
    examples,
    input_problems,
    metrics_headers,
    rate_output,
    run_live,
    separate,
    status_lines,
    upload_seconds,
)
from app.services import Services
from ddpmss.audio import AudioError
from ddpmss.settings import PIPELINES

PRIVATE: dict[str, Any] = {"api_visibility": "private"}
PROGRESS = gr.Progress()  # Gradio replaces this default with a per-call tracker
HISTORY = 5  # earlier runs a tab lists


def build_tab(demo: gr.Blocks, services: Services) -> None:
    """The lab tab's components and events, and the public API endpoint `separate` (an event of its own)."""
    settings = services.settings
    jobs = LabJobs()
    times = RunTimes()
    models = gr.Markdown(services.models.status())
    with gr.Row():
        with gr.Column(min_width=300):
            mixture = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Mixture of two talkers")
            gr.Markdown(messages.upload_limits(settings.lab_max_seconds, settings.max_upload_mb))
            mixture_note = gr.Markdown(elem_id="lab-mixture-note")
            example = gr.Dropdown(choices=[e.mixture_id for e in examples()], value=None, label="Or pick an example")
        with gr.Column(min_width=300):
            ref1 = gr.Audio(sources=["upload"], type="filepath", label="Reference talker 1 (optional, for metrics)")
            ref1_note = gr.Markdown()
            ref2 = gr.Audio(sources=["upload"], type="filepath", label="Reference talker 2 (optional, for metrics)")
            ref2_note = gr.Markdown()
    with gr.Row():
        run = gr.Button("Separate", variant="primary", scale=3)
        stop = gr.Button("Cancel", variant="stop", scale=1)
    estimate_line = gr.Markdown(elem_id="lab-estimate")
    status = gr.Markdown(elem_id="lab-status")
    run_state = gr.State(None)
    history = gr.State([])  # this tab's complete runs, newest first
    kept = gr.BrowserState([], storage_key="ddpmss-lab-runs", secret=services.secret)  # their ids, across reloads
    players: dict[tuple[str, int], gr.Audio] = {}
    images: dict[tuple[str, int], gr.Image] = {}
    quick: dict[tuple[str, int], gr.Radio] = {}
    for talker in range(1, TALKERS + 1):
        gr.Markdown(f"### Talker {talker}")
        with gr.Row():
            for name in PIPELINES:
                with gr.Column(min_width=260):
                    players[(name, talker)] = gr.Audio(
                        label=f"{PIPELINE_TITLES[name]}, talker {talker}",
                        type="filepath",
                        interactive=False,
                        buttons=["download"],
                    )
                    images[(name, talker)] = gr.Image(
                        label=f"Spectrogram, {PIPELINE_TITLES[name]}, talker {talker}",
                        show_label=False,
                        type="filepath",
                        interactive=False,
                        height=190,
                        buttons=["fullscreen"],
                    )
                    quick[(name, talker)] = gr.Radio(
                        choices=[1, 2, 3, 4, 5], label="Quick rating (1 Bad - 5 Excellent)", interactive=True
                    )
    table = gr.Dataframe(headers=metrics_headers(), label="Metrics", interactive=False, visible=False)
    table_note = gr.Markdown()
    download = gr.DownloadButton("Download the run (zip)", visible=False)
    earlier = gr.Dropdown(choices=[], value=None, label="Your earlier runs (kept in this browser)", interactive=True)
    summary = gr.JSON(label="Metrics and timings (JSON)")
    api_trigger = gr.Button(visible=False)  # the public `separate` endpoint's event: no button on the page
    keys = [(name, talker) for name in PIPELINES for talker in range(1, TALKERS + 1)]
    shown = [*players.values(), *images.values(), table, table_note, download, models, summary, run_state, status]

    def render(run: LabRun | None) -> dict[Any, Any]:
        """The page for a run so far (players, spectrograms and metrics of the pipelines done; the zip, JSON
        and models line once complete), or cleared for a new run."""
        ready = run.players() if run is not None else {}
        updates: dict[Any, Any] = {}
        for key in keys:
            wav, picture = ready.get(key, (None, None))
            updates[players[key]] = str(wav) if wav else None
            updates[images[key]] = str(picture) if picture else None
        rows = run.metrics_rows() if run is not None else []
        updates[table] = gr.update(value=rows, visible=bool(rows))
        updates[table_note] = "" if run is None or run.with_references else messages.METRICS_NEED_REFERENCES
        complete = run is not None and run.complete
        updates[download] = gr.update(value=str(write_zip(run)) if complete else None, visible=complete)
        updates[summary] = run.summary() if complete else None
        updates[models] = messages.models_in_use(run.models) if run is not None else gr.update()
        updates[run_state] = run
        updates[status] = status_lines(run) if run is not None else ""
        return updates

    def on_separate(
        mixture_path: str | None,
        reference1: str | None = None,
        reference2: str | None = None,
        progress: gr.Progress = PROGRESS,
        request: gr.Request = None,
    ) -> Iterator[dict[Any, Any]]:
        """The page's Separate: the results appear pipeline by pipeline (the API's `separate` gives them at
        the end)."""
        session = _session(request)
        flag = jobs.flag(session)
        prune_runs(services.runtime_dir, settings.lab_keep_runs)
        try:
            yield {**render(None), estimate_line: estimate(mixture_path), **{radio: None for radio in quick.values()}}
            with _user_errors():
                for run in run_live(services, mixture_path, reference1, reference2, progress, stop=stopper(flag)):
                    if run.complete:
                        times.record(run.seconds, run.timings["total"])
                    yield {**render(run), estimate_line: "" if run.complete else gr.update()}
        finally:
            jobs.release(session, flag)

    def api_separate(
        mixture_path: str | None,
        reference1: str | None = None,
        reference2: str | None = None,
        progress: gr.Progress = PROGRESS,
        request: gr.Request = None,
    ) -> tuple[Any, ...]:
        """Separate a two-talker mixture with the three pipelines: six WAVs and a JSON of metrics and timings.

        The references are optional: without them the JSON has DNSMOS for every output and names the
        metrics that need them."""
        session = _session(request)
        flag = jobs.flag(session)
        prune_runs(services.runtime_dir, settings.lab_keep_runs)
        try:
            with _user_errors():
                result = separate(services, mixture_path, reference1, reference2, progress, stop=stopper(flag))
        finally:
            jobs.release(session, flag)
        times.record(result.seconds, result.timings["total"])
        return (*result.output_files(), result.summary())

    def validate(
        mixture_path: str | None,
        reference1: str | None = None,
        reference2: str | None = None,
        request: gr.Request = None,
    ) -> list[dict[str, Any]]:
        """Before the job enters the queue: the sentence that stops it, on the input it is about (a tab
        with a job already queued or running is refused: one job per browser session)."""
        problems = input_problems(settings, mixture_path, reference1, reference2)
        if not any(problems) and jobs.claim(_session(request)) is None:
            problems[0] = messages.ONE_JOB
        return [gr.validate(not problem, problem) for problem in problems]

    def estimate(mixture_path: str | None) -> str:
        """As the job starts: how long it should take, from the last runs' times (while it waited, Gradio's
        queue showed its position)."""
        seconds = upload_seconds(mixture_path)
        if seconds is None:
            return ""
        expected, runs = times.estimate(seconds)
        return messages.lab_estimate(expected, runs)

    def remember(run: LabRun | None, runs: list[LabRun]) -> tuple[list[LabRun], Any, Any]:
        """After a complete run: keep it first in the tab's list of earlier runs, saved for a reload."""
        if run is None or not run.complete:
            return runs, gr.update(), gr.update()
        save_run(run)
        runs = [run, *(r for r in runs if r.run_id != run.run_id)][:HISTORY]
        return runs, _history_choices(runs, run.run_id), [r.run_id for r in runs]

    def restore(run_ids: list[str] | None) -> tuple[list[LabRun], Any]:
        """A reloaded tab lists the runs it made before (those whose files are still there)."""
        runs = [r for r in (load_run(services.runtime_dir, i) for i in (run_ids or [])[:HISTORY]) if r is not None]
        return runs, _history_choices(runs, None)

    def reopen(run_id: str | None, runs: list[LabRun]) -> dict[Any, Any]:
        """Show an earlier run of this tab again: players, spectrograms, metrics, JSON and zip."""
        run = next((r for r in runs if r.run_id == run_id), None)
        if run is None:
            return {}
        return {**render(run), **{radio: None for radio in quick.values()}}

    def checked(path: str | None) -> tuple[Any, str]:
        """At upload: a bad file is cleared with its sentence under the player, a good one gets its conversions."""
        if not path:
            return gr.update(), ""
        try:
            return gr.update(), conversion_line(settings, path)
        except AudioError as exc:
            return None, messages.alert(str(exc))

    def pick(name: str | None) -> tuple[Any, ...]:
        if not name:
            return (gr.update(),) * 6
        try:
            paths = example_files(name)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return (*paths, *(conversion_line(settings, p) if p else "" for p in paths))

    def rater_for(name: str, talker: int) -> Callable[[LabRun | None, int | None], None]:
        def rate(result: LabRun | None, value: int | None) -> None:
            if result is None or (name, talker) not in result.players():
                raise gr.Error(messages.SEPARATE_FIRST, print_exception=False)
            try:
                rate_output(services, result.run_id, name, talker, value)
            except USER_ERRORS as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            gr.Info(messages.RATING_SAVED)

        return rate

    def cancel(request: gr.Request) -> None:
        jobs.cancel(_session(request))

    def cleared() -> dict[Any, Any]:
        """After Cancel: the run's partial results (their files removed) leave the page."""
        return {**render(None), status: messages.CANCELLED, estimate_line: ""}

    lab = {"concurrency_limit": 1, "concurrency_id": "lab", "validator": validate}
    separating = run.click(
        on_separate, [mixture, ref1, ref2], [*shown, estimate_line, *quick.values()], **lab, **PRIVATE
    )
    separating.success(remember, [run_state, history], [history, earlier, kept], **PRIVATE)
    calling = api_trigger.click(
        api_separate, [mixture, ref1, ref2], [*(players[k] for k in keys), summary], api_name="separate", **lab
    )
    earlier.input(reopen, [earlier, history], [*shown, *quick.values()], **PRIVATE)
    example.change(pick, [example], [mixture, ref1, ref2, mixture_note, ref1_note, ref2_note], **PRIVATE)
    for audio, note in ((mixture, mixture_note), (ref1, ref1_note), (ref2, ref2_note)):
        audio.upload(checked, [audio], [audio, note], concurrency_limit=None, **PRIVATE)
        audio.clear(lambda: "", None, [note], **PRIVATE)
    # The page is cleared by a queued event after the cancel: it reaches the browser after any output the run
    # had already sent, which a reply to the Cancel click itself could overtake.
    cancelling = stop.click(cancel, None, None, cancels=[separating, calling], queue=False, **PRIVATE)
    cancelling.then(cleared, None, [*shown, estimate_line], concurrency_limit=None, **PRIVATE)
    demo.unload(cancel)  # a closed tab cancels its job
    mixture.stop_recording(checked, [mixture], [mixture, mixture_note], concurrency_limit=None, **PRIVATE)
    for (name, talker), radio in quick.items():
        radio.input(rater_for(name, talker), [run_state, radio], None, **PRIVATE)
    demo.load(services.models.status, None, [models], **PRIVATE)
    demo.load(restore, [kept], [history, earlier], **PRIVATE)


@contextmanager
def _user_errors() -> Iterator[None]:
    """A user's problem becomes its one sentence on the page, a bug or resource problem one sentence there and
    the traceback in the server log; a cancelled run says so."""
    try:
        yield
    except Cancelled:
        raise gr.Error(messages.CANCELLED, print_exception=False) from None
    except USER_ERRORS as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    except Exception:
        traceback.print_exc()
        raise gr.Error(messages.SEPARATION_FAILED, print_exception=False) from None


def _history_choices(runs: list[LabRun], selected: str | None) -> dict[str, Any]:
    return gr.update(choices=[(_history_label(r), r.run_id) for r in runs], value=selected)


def _history_label(run: LabRun) -> str:
    """'21:04:05 · mix.wav (4.0 s)' for the list of earlier runs (the run id starts with its date and time)."""
    clock = run.run_id.split("-")[1]
    return messages.lab_history_entry(f"{clock[:2]}:{clock[2:4]}:{clock[4:6]}", run.mixture_name or "?", run.seconds)


def _session(request: gr.Request | None) -> str:
    """The browser session (tab) of a request; one shared key for callers without one."""
    return getattr(request, "session_hash", None) or ""
