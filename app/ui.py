"""The Gradio Blocks of the app, built in one place: listening test, side-by-side lab, results (admin).

Callbacks live in app.rater, app.lab and app.results as plain functions; this module only wires them
to components and turns their results into component updates. Every event is private to the Gradio
API except the lab's `separate` endpoint.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app import lab as lab_mod
from app import rater
from app.context import Lab
from app.results import DENIED, Access, authorize, compute_results
from ddpmss.audio import AudioError
from ddpmss.models import ModelError
from ddpmss.settings import EXAMPLES_DIR, PIPELINES
from listening_tests.protocols import MAX_MUSHRA_CONDITIONS, SCALE_LABELS, SCALE_QUESTIONS
from listening_tests.storage import StoreError

USER_ERRORS = (AudioError, ModelError, ValueError, StoreError)
SEPARATION_FAILED = "The separation failed on the server; please try a shorter or different recording."
MAX_SCALES = 3  # P.835: SIG, BAK, OVRL
MUSHRA_INFO = "0-20 Bad · 20-40 Poor · 40-60 Fair · 60-80 Good · 80-100 Excellent"
CSS = """
.gradio-container {width: 100%; max-width: 1180px !important; margin: auto;}
.lab-progress {display: flex; align-items: center; gap: .75rem; margin: .25rem 0 .5rem;}
.lab-progress progress {flex: 1; height: 1rem; accent-color: var(--color-accent);}
.lab-notice {color: var(--error-text-color, #b91c1c); font-weight: 600;}
@media (max-width: 640px) {.gradio-container {padding: 0 .4rem !important;}}
"""
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
PLAYER_EVENT: dict[str, Any] = {
    "api_visibility": "private",
    "concurrency_limit": None,
    "show_progress": "hidden",
    "trigger_mode": "multiple",
}
RATER_EVENT: dict[str, Any] = {"api_visibility": "private", "concurrency_limit": None}
PROGRESS = gr.Progress()  # Gradio replaces this default with a per-call tracker
# Files in Gradio's cache (uploads, served copies of clips and lab outputs) are checked every hour and
# removed once as old as the blind copies of the stimuli (so an open rating page keeps its clips).
CACHE_EXPIRY = (3600, int(rater.BLIND_MAX_AGE_S))


def scale_choices(scale: str) -> list[tuple[str, int]]:
    """Radio choices of a 5-point scale, best first: ('5 Excellent', 5), ..."""
    return [(f"{v} {label}", v) for v, label in sorted(SCALE_LABELS[scale].items(), reverse=True)]


@dataclass
class RaterUI:
    """The listening-test components, and how a `rater.View` updates them."""

    message: gr.Markdown
    consent_box: gr.Column
    consent_text: gr.Markdown
    participant: gr.Textbox
    instructions_box: gr.Column
    instructions_text: gr.Markdown
    page_box: gr.Column
    page_title: gr.Markdown
    progress: gr.HTML
    reference: gr.Audio
    clip: gr.Audio
    radios: list[gr.Radio]
    mushra_info: gr.Markdown
    mushra_rows: list[gr.Row]
    mushra_audio: list[gr.Audio]
    mushra_sliders: list[gr.Slider]
    done_box: gr.Column
    done_text: gr.Markdown
    notice: gr.Markdown

    def outputs(self) -> list[Any]:
        """Every component a view may change."""
        return [
            self.message,
            self.consent_box,
            self.consent_text,
            self.participant,
            self.instructions_box,
            self.instructions_text,
            self.page_box,
            self.page_title,
            self.progress,
            self.reference,
            self.clip,
            *self.radios,
            self.mushra_info,
            *self.mushra_rows,
            *self.mushra_audio,
            *self.mushra_sliders,
            self.done_box,
            self.done_text,
            self.notice,
        ]

    def render(self, view: rater.View) -> dict[Any, Any]:
        """Component updates for a view (a `notice` view changes only the notice)."""
        notice = gr.update(value=f'<p class="lab-notice" role="alert">{view.notice}</p>' if view.notice else "")
        if view.stage == "notice":
            return {self.notice: notice}
        stage = view.stage
        updates: dict[Any, Any] = {
            self.notice: notice,
            self.message: gr.update(value=view.text if stage == "message" else "", visible=stage == "message"),
            self.consent_box: gr.update(visible=stage == "consent"),
            self.instructions_box: gr.update(visible=stage == "instructions"),
            self.page_box: gr.update(visible=stage == "page"),
            self.done_box: gr.update(visible=stage == "done"),
        }
        if stage == "consent":
            updates[self.consent_text] = f"## Consent\n\n{view.text}"
            updates[self.participant] = gr.update(visible=view.ask_participant_id)
        if stage == "instructions":
            updates[self.instructions_text] = f"## Instructions\n\n{view.text}"
        if stage == "done":
            updates[self.done_text] = f"## {view.title}\n\n{view.text}"
        if stage == "page":
            updates.update(self._page(view))
        return updates

    def _page(self, view: rater.View) -> dict[Any, Any]:
        mushra = view.protocol == "mushra"
        done, total = view.progress
        what = "training pages" if view.training else "pages"
        practice = " (practice: these answers are not stored)" if view.training else ""
        updates: dict[Any, Any] = {
            self.page_title: f"### {view.title}{practice}",
            self.progress: (
                f'<div class="lab-progress"><progress value="{done}" max="{total}" aria-label="Progress">'
                f"</progress><span>{done} of {total} {what} done</span></div>"
            ),
            self.reference: gr.update(value=view.reference, visible=view.reference is not None),
            self.mushra_info: gr.update(visible=mushra),
        }
        single = view.clips[0] if view.clips and not mushra else None
        updates[self.clip] = gr.update(
            value=single.audio if single else None, label=single.label if single else "Clip", visible=single is not None
        )
        for index, radio in enumerate(self.radios):
            scale = view.scales[index] if single and index < len(view.scales) else None
            updates[radio] = (
                gr.update(
                    choices=scale_choices(scale),
                    value=None,
                    label=SCALE_QUESTIONS[scale],
                    visible=True,
                    interactive=single.enabled,
                )
                if scale
                else gr.update(visible=False, value=None)
            )
        for slot, (row, audio, slider) in enumerate(zip(self.mushra_rows, self.mushra_audio, self.mushra_sliders)):
            clip = view.clips[slot] if mushra and slot < len(view.clips) else None
            updates[row] = gr.update(visible=clip is not None)
            updates[audio] = gr.update(value=clip.audio if clip else None, label=clip.label if clip else "")
            updates[slider] = gr.update(value=0, label=f"Score for {clip.label}" if clip else "")
        return updates


def build_app(lab: Lab, access: Access) -> gr.Blocks:
    """The whole app; the results tab exists only when `access.mode` is not 'off'."""
    title = lab.study.title if lab.study else "Speech separation listening lab"
    with gr.Blocks(title=title, delete_cache=CACHE_EXPIRY) as demo:
        gr.Markdown(f"# {title}")
        with gr.Tabs():
            with gr.Tab("Listening test", id="test"):
                _rater_tab(demo, lab)
            with gr.Tab("Side-by-side lab", id="lab"):
                _lab_tab(demo, lab)
            if access.mode != "off":
                with gr.Tab("Results", id="results"):
                    _results_tab(lab, access)
    return demo


def launch_options(lab: Lab) -> dict[str, Any]:
    """Keyword arguments of `Blocks.launch` (theme, css, limits, which paths may be served)."""
    return {
        "server_name": lab.settings.host,
        "server_port": lab.settings.port,
        "max_file_size": int(lab.settings.max_upload_mb * 1e6),
        "allowed_paths": [str(EXAMPLES_DIR)],
        "blocked_paths": [str(lab.settings.data_dir)],
        "theme": gr.themes.Soft(),
        "css": CSS,
        "show_error": False,
    }


# ---------------------------------------------------------------------------------- listening test


def _rater_tab(demo: gr.Blocks, lab: Lab) -> None:
    study_id = lab.study.id if lab.study else "none"
    browser = gr.BrowserState({}, storage_key=f"ddpmss-lab-{study_id}", secret=lab.secret)
    visit = gr.State(None)
    message = gr.Markdown(visible=False)
    with gr.Column(visible=False) as consent_box:
        consent_text = gr.Markdown()
        participant = gr.Textbox(label="Your participant id", visible=False, max_length=128)
        agree = gr.Button("I agree and want to take part", variant="primary")
    with gr.Column(visible=False) as instructions_box:
        instructions_text = gr.Markdown()
        start = gr.Button("Start", variant="primary")
    with gr.Column(visible=False) as page_box:
        page_title = gr.Markdown()
        progress = gr.HTML()
        reference = gr.Audio(label="Reference", interactive=False, buttons=[], loop=True, visible=False)
        clip = gr.Audio(
            label="Clip",
            interactive=False,
            buttons=[],
            waveform_options=gr.WaveformOptions(show_recording_waveform=False),
        )
        radios = [gr.Radio(choices=[], visible=False, interactive=False) for _ in range(MAX_SCALES)]
        mushra_info = gr.Markdown(f"Scale: {MUSHRA_INFO}. Every clip loops; play each one.", visible=False)
        rows, audios, sliders = [], [], []
        for _ in range(MAX_MUSHRA_CONDITIONS):
            with gr.Row(visible=False, equal_height=True) as row:
                audios.append(gr.Audio(interactive=False, buttons=[], loop=True, min_width=240))
                sliders.append(gr.Slider(0, 100, value=0, step=1, info=MUSHRA_INFO, min_width=240))
            rows.append(row)
        next_button = gr.Button("Save and continue", variant="primary")
    with gr.Column(visible=False) as done_box:
        done_text = gr.Markdown()
    notice = gr.Markdown()
    ui = RaterUI(
        message,
        consent_box,
        consent_text,
        participant,
        instructions_box,
        instructions_text,
        page_box,
        page_title,
        progress,
        reference,
        clip,
        radios,
        mushra_info,
        rows,
        audios,
        sliders,
        done_box,
        done_text,
        notice,
    )
    outputs = ui.outputs()

    def on_load(stored: dict | None, request: gr.Request) -> dict[Any, Any]:
        query = dict(request.query_params) if request is not None else {}
        state, view, keep = rater.open_visit(lab, stored, query)
        return {visit: state, browser: keep, **ui.render(view)}

    def on_consent(state: rater.Visit | None, participant_text: str) -> dict[Any, Any]:
        state, view, keep = rater.consent(lab, state, participant_text)
        return {visit: state, **({browser: keep} if keep is not None else {}), **ui.render(view)}

    def on_begin(state: rater.Visit | None) -> dict[Any, Any]:
        state, view = rater.begin(lab, state)
        return {visit: state, **ui.render(view)}

    def on_submit(state: rater.Visit | None, *values: Any) -> dict[Any, Any]:
        state, view = rater.submit(lab, state, values[:MAX_SCALES], values[MAX_SCALES:])
        return {visit: state, **ui.render(view)}

    def on_end(state: rater.Visit | None) -> list[Any]:
        return [gr.update(interactive=True)] * MAX_SCALES if rater.ended(lab, state, 0) else [gr.update()] * MAX_SCALES

    demo.load(on_load, [browser], [visit, browser, *outputs], **RATER_EVENT)
    agree.click(on_consent, [visit, participant], [visit, browser, *outputs], **RATER_EVENT)
    start.click(on_begin, [visit], [visit, *outputs], **RATER_EVENT)
    next_button.click(on_submit, [visit, *radios, *sliders], [visit, *outputs], **RATER_EVENT)
    clip.play(_player(lab, rater.played, 0), [visit], None, **PLAYER_EVENT)
    clip.pause(_player(lab, rater.paused, 0), [visit], None, **PLAYER_EVENT)
    clip.stop(on_end, [visit], radios, **PLAYER_EVENT)
    for slot, audio in enumerate(audios):
        audio.play(_player(lab, rater.played, slot), [visit], None, **PLAYER_EVENT)
        audio.pause(_player(lab, rater.paused, slot), [visit], None, **PLAYER_EVENT)
        audio.stop(_player(lab, rater.ended, slot), [visit], None, **PLAYER_EVENT)


def _player(lab: Lab, handler: Callable[..., Any], slot: int) -> Callable[[rater.Visit | None], None]:
    def on_event(state: rater.Visit | None) -> None:
        handler(lab, state, slot)

    return on_event


# ------------------------------------------------------------------------------------------- lab


def _lab_tab(demo: gr.Blocks, lab: Lab) -> None:
    models = gr.Markdown(lab.models.status())
    with gr.Row():
        with gr.Column(min_width=300):
            mixture = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Mixture of two talkers")
            example = gr.Dropdown(
                choices=[e.mixture_id for e in lab_mod.examples()], value=None, label="Or pick an example"
            )
        with gr.Column(min_width=300):
            ref1 = gr.Audio(sources=["upload"], type="filepath", label="Reference talker 1 (optional, for metrics)")
            ref2 = gr.Audio(sources=["upload"], type="filepath", label="Reference talker 2 (optional, for metrics)")
    run = gr.Button("Separate", variant="primary")
    run_state = gr.State(None)
    players: dict[tuple[str, int], gr.Audio] = {}
    images: dict[tuple[str, int], gr.Image] = {}
    quick: dict[tuple[str, int], gr.Radio] = {}
    for talker in range(1, lab_mod.TALKERS + 1):
        gr.Markdown(f"### Talker {talker}")
        with gr.Row():
            for name in PIPELINES:
                with gr.Column(min_width=260):
                    players[(name, talker)] = gr.Audio(
                        label=f"{lab_mod.PIPELINE_TITLES[name]}, talker {talker}",
                        type="filepath",
                        interactive=False,
                        buttons=["download"],
                    )
                    images[(name, talker)] = gr.Image(
                        label=f"Spectrogram, {lab_mod.PIPELINE_TITLES[name]}, talker {talker}",
                        show_label=False,
                        type="filepath",
                        interactive=False,
                        height=190,
                        buttons=["fullscreen"],
                    )
                    quick[(name, talker)] = gr.Radio(
                        choices=[1, 2, 3, 4, 5], label="Quick rating (1 Bad - 5 Excellent)", interactive=True
                    )
    table = gr.Dataframe(
        headers=lab_mod.metrics_headers(), label="Metrics (with references)", interactive=False, visible=False
    )
    summary = gr.JSON(label="Metrics and timings (JSON)")
    keys = [(name, talker) for name in PIPELINES for talker in range(1, lab_mod.TALKERS + 1)]

    def separate(
        mixture_path: str | None,
        reference1: str | None,
        reference2: str | None,
        progress: gr.Progress = PROGRESS,
    ) -> tuple[Any, ...]:
        """Separate a two-talker mixture with the three pipelines (six WAVs; JSON of metrics and timings)."""
        try:
            result = lab_mod.separate(lab, mixture_path, reference1, reference2, progress)
        except USER_ERRORS as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:  # a bug or a resource problem: the server log gets the traceback, the user one sentence
            traceback.print_exc()
            raise gr.Error(SEPARATION_FAILED, print_exception=False) from None
        return (*result.output_files(), result.summary(), result)

    def show(result: lab_mod.LabRun | None) -> dict[Any, Any]:
        if result is None:
            return {}
        rows = result.metrics_rows()
        updates: dict[Any, Any] = {
            table: gr.update(value=rows, visible=bool(rows)),
            models: f"Models: {result.models}",
        }
        for name, talker in keys:
            updates[images[(name, talker)]] = str(result.spectrograms[name][talker - 1])
            updates[quick[(name, talker)]] = gr.update(value=None)
        return updates

    def pick(name: str | None) -> tuple[Any, ...]:
        if not name:
            return gr.update(), gr.update(), gr.update()
        try:
            return lab_mod.example_files(name)
        except ValueError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def rater_for(name: str, talker: int) -> Callable[[lab_mod.LabRun | None, int | None], None]:
        def rate(result: lab_mod.LabRun | None, value: int | None) -> None:
            if result is None:
                raise gr.Error("Separate a mixture first.", print_exception=False)
            try:
                lab_mod.rate_output(lab, result.run_id, name, talker, value)
            except USER_ERRORS as exc:
                raise gr.Error(str(exc), print_exception=False) from None
            gr.Info("Rating saved.")

        return rate

    run.click(
        separate,
        [mixture, ref1, ref2],
        [*(players[k] for k in keys), summary, run_state],
        api_name="separate",
        concurrency_limit=1,
    ).then(show, [run_state], [table, models, *images.values(), *quick.values()], **PRIVATE)
    example.change(pick, [example], [mixture, ref1, ref2], **PRIVATE)
    for (name, talker), radio in quick.items():
        radio.input(rater_for(name, talker), [run_state, radio], None, **PRIVATE)
    demo.load(lab.models.status, None, [models], **PRIVATE)


# --------------------------------------------------------------------------------------- results


def _results_tab(lab: Lab, access: Access) -> None:
    if access.mode == "open":
        gr.Markdown("No admin password is set: results are shown because the app listens on this computer only.")
    password = gr.Textbox(label="Admin password", type="password", visible=access.password is not None)
    if access.oauth:
        gr.LoginButton()
    show = gr.Button("Show results", variant="primary")
    status = gr.Markdown()
    with gr.Column(visible=False) as found_box:
        summary = gr.Dataframe(label="Per-condition summary (retained ratings)", interactive=False)
        screening = gr.Dataframe(label="Screening per rater", interactive=False)
        correlations = gr.Dataframe(label="Listener scores against objective metrics", interactive=False)
        plots = gr.Gallery(label="Plots", columns=2, height="auto", object_fit="contain")
        files = gr.File(label="Downloads: ratings.csv, manifest.csv, report", file_count="multiple", interactive=False)
    outputs = [status, found_box, summary, screening, correlations, plots, files]

    def results(password_text: str | None, profile: Any = None) -> tuple[Any, ...]:
        try:
            authorize(access, password_text, profile)
        except PermissionError:
            denied = f'<p class="lab-notice" role="alert">{DENIED}</p>'
            return denied, gr.update(visible=False), None, None, None, None, None
        found = compute_results(lab)
        return (
            found.message,
            gr.update(visible=bool(found.files)),
            found.summary.round(3),
            found.screening,
            found.correlations.round(3),
            [str(p) for p in found.plots],
            [str(p) for p in found.files],
        )

    if access.oauth:

        def results_signed_in(password_text: str | None, profile: gr.OAuthProfile | None) -> tuple[Any, ...]:
            return results(password_text, profile)

        handler: Callable[..., tuple[Any, ...]] = results_signed_in
    else:

        def results_password(password_text: str | None) -> tuple[Any, ...]:
            return results(password_text)

        handler = results_password
    show.click(handler, [password], outputs, show_progress_on=[status], **PRIVATE)
    password.submit(handler, [password], outputs, show_progress_on=[status], **PRIVATE)
