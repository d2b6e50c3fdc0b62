"""The side-by-side lab tab: upload (checked at once), Separate, six players with spectrograms, metrics and
quick ratings. Its Separate button is the public API endpoint `separate` (six WAV files and a JSON result
out); the work itself is Gradio-free in app/lab_run.py.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import gradio as gr

from app import messages
from app.lab_export import write_zip
from app.lab_run import (
    PIPELINE_TITLES,
    TALKERS,
    USER_ERRORS,
    Cancelled,
    LabJobs,
    LabRun,
    conversion_line,
    example_files,
    examples,
    input_problems,
    metrics_headers,
    rate_output,
    separate,
    stopper,
)
from app.services import Services
from ddpmss.audio import AudioError
from ddpmss.settings import PIPELINES

PRIVATE: dict[str, Any] = {"api_visibility": "private"}
PROGRESS = gr.Progress()  # Gradio replaces this default with a per-call tracker


def build_tab(demo: gr.Blocks, services: Services) -> None:
    """The lab tab's components and events; its Separate button is the public API endpoint `separate`."""
    settings = services.settings
    jobs = LabJobs()
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
    run_state = gr.State(None)
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
    summary = gr.JSON(label="Metrics and timings (JSON)")
    keys = [(name, talker) for name in PIPELINES for talker in range(1, TALKERS + 1)]

    def on_separate(
        mixture_path: str | None,
        reference1: str | None = None,
        reference2: str | None = None,
        progress: gr.Progress = PROGRESS,
        request: gr.Request = None,
    ) -> tuple[Any, ...]:
        """Separate a two-talker mixture with the three pipelines: six WAVs and a JSON of metrics and timings.

        The references are optional: without them the JSON has DNSMOS for every output and names the
        metrics that need references."""
        session = _session(request)
        flag = jobs.flag(session)
        try:
            result = separate(services, mixture_path, reference1, reference2, progress, stop=stopper(flag))
        except Cancelled:
            raise gr.Error(messages.CANCELLED, print_exception=False) from None
        except USER_ERRORS as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:  # a bug or a resource problem: the server log gets the traceback, the user one sentence
            traceback.print_exc()
            raise gr.Error(messages.SEPARATION_FAILED, print_exception=False) from None
        finally:
            jobs.release(session, flag)
        return (*result.output_files(), result.summary(), result)

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

    def checked(path: str | None) -> tuple[Any, str]:
        """At upload: a bad file is cleared with its sentence under the player, a good one gets its conversions."""
        if not path:
            return gr.update(), ""
        try:
            return gr.update(), conversion_line(settings, path)
        except AudioError as exc:
            return None, messages.alert(str(exc))

    def show(result: LabRun) -> dict[Any, Any]:
        """After a successful run (only then: `.success`): table, zip, models line, spectrograms."""
        rows = result.metrics_rows()
        updates: dict[Any, Any] = {
            table: gr.update(value=rows, visible=True),
            table_note: "" if result.with_references else messages.METRICS_NEED_REFERENCES,
            download: gr.update(value=str(write_zip(result)), visible=True),
            models: messages.models_in_use(result.models),
        }
        for name, talker in keys:
            updates[images[(name, talker)]] = str(result.spectrograms[name][talker - 1])
            updates[quick[(name, talker)]] = gr.update(value=None)
        return updates

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
            if result is None:
                raise gr.Error(messages.SEPARATE_FIRST, print_exception=False)
            try:
                rate_output(services, result.run_id, name, talker, value)
            except USER_ERRORS as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            gr.Info(messages.RATING_SAVED)

        return rate

    def cancel(request: gr.Request) -> None:
        jobs.cancel(_session(request))

    separating = run.click(
        on_separate,
        [mixture, ref1, ref2],
        [*(players[k] for k in keys), summary, run_state],
        api_name="separate",
        concurrency_limit=1,
        concurrency_id="lab",
        validator=validate,
    )
    separating.success(
        show, [run_state], [table, table_note, download, models, *images.values(), *quick.values()], **PRIVATE
    )
    example.change(pick, [example], [mixture, ref1, ref2, mixture_note, ref1_note, ref2_note], **PRIVATE)
    for audio, note in ((mixture, mixture_note), (ref1, ref1_note), (ref2, ref2_note)):
        audio.upload(checked, [audio], [audio, note], concurrency_limit=None, **PRIVATE)
        audio.clear(lambda: "", None, [note], **PRIVATE)
    stop.click(cancel, None, None, cancels=[separating], queue=False, **PRIVATE)
    demo.unload(cancel)  # a closed tab cancels its job
    mixture.stop_recording(checked, [mixture], [mixture, mixture_note], concurrency_limit=None, **PRIVATE)
    for (name, talker), radio in quick.items():
        radio.input(rater_for(name, talker), [run_state, radio], None, **PRIVATE)
    demo.load(services.models.status, None, [models], **PRIVATE)


def _session(request: gr.Request | None) -> str:
    """The browser session (tab) of a request; one shared key for callers without one."""
    return getattr(request, "session_hash", None) or ""
