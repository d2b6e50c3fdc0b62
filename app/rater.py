"""The listening-test tab: its components, how a `View` updates them, and the events that drive it.

The rater's path itself (consent, pages, saving) is Gradio-free in `app.steps`; this module only wires
components to it and renders the `View` each step returns. Every event is private to the Gradio API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from app import messages, steps
from app.before_test import BeforeUI
from app.before_test import build as build_before
from app.mushra import PANEL_JS, REDIRECT_JS, panel_spec
from app.services import Services
from listening_tests.protocols import COMPARISON_PROTOCOLS, SCALE_LABELS, SCALE_QUESTIONS, MushraOptions
from listening_tests.qualification import QUESTION_KEYS

MAX_SCALES = 3  # P.835: SIG, BAK, OVRL
PLAYER_EVENT: dict[str, Any] = {
    "api_visibility": "private",
    "concurrency_limit": None,
    "show_progress": "hidden",
    "trigger_mode": "multiple",
}
RATER_EVENT: dict[str, Any] = {"api_visibility": "private", "concurrency_limit": None}


def scale_choices(scale: str, no_preference: bool = False) -> list[tuple[str, int]]:
    """Radio choices of a scale, best first: ('5 Excellent', 5), ...; CCR ('+3 Much Better', 3) ... ('-3 Much
    Worse', -3); A/B preference ('A', -1), ('B', 1) and, when the study allows it, ('No preference', 0)."""
    labels = SCALE_LABELS[scale]
    if scale == "pref":
        return [(labels[v], v) for v in (-1, 1, *((0,) if no_preference else ()))]
    signed = scale == "ccr"
    return [(f"{v:{'+' if signed and v else ''}d} {label}", v) for v, label in sorted(labels.items(), reverse=True)]


@dataclass
class RaterUI:
    """The listening-test components, and how a `steps.View` updates them."""

    message: gr.Markdown
    intro_box: gr.Column
    intro_text: gr.Markdown
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
    clip_b: gr.Audio
    radios: list[gr.Radio]
    panel: gr.HTML
    next_button: gr.Button
    done_box: gr.Column
    done_text: gr.Markdown
    code: gr.Textbox
    link: gr.HTML
    notice: gr.Markdown
    before: BeforeUI
    options: MushraOptions
    no_preference: bool = False  # A/B studies: the third answer

    def outputs(self) -> list[Any]:
        """Every component a view may change."""
        return [
            self.message,
            self.intro_box,
            self.intro_text,
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
            self.clip_b,
            *self.radios,
            self.panel,
            self.next_button,
            self.done_box,
            self.done_text,
            self.code,
            self.link,
            self.notice,
            *self.before.outputs(),
        ]

    def render(self, view: steps.View, visit: steps.Visit | None = None) -> dict[Any, Any]:
        """Component updates for a view (a `notice` view changes only the notice).

        Only what changes is sent: Gradio rebuilds a component and its whole config for every `gr.update`
        (about a millisecond of the server's one interpreter each), so updates that cannot change between
        two pages of the same layout (which boxes and scales show) are left out once the tab shows that
        layout (`visit.layout`), and values that need no other property go as plain values.
        """
        notice = messages.alert(view.notice)
        if view.stage == "notice":
            return {self.notice: notice}
        stage = view.stage
        layout = (stage, view.protocol, view.scales)
        same = visit is not None and visit.layout == layout
        if visit is not None:
            visit.layout = layout
        updates: dict[Any, Any] = {self.notice: notice}
        if not same:
            updates.update(
                {
                    self.message: gr.update(visible=stage == "message"),
                    self.intro_box: gr.update(visible=stage == "intro"),
                    self.consent_box: gr.update(visible=stage == "consent"),
                    self.instructions_box: gr.update(visible=stage == "instructions"),
                    self.page_box: gr.update(visible=stage == "page"),
                    self.done_box: gr.update(visible=stage == "done"),
                }
            )
        if not same or stage == "before":
            updates.update(self.before.render(view))
        if stage == "message":
            updates[self.message] = gr.update(value=view.text, visible=True)
        if stage == "intro":
            updates[self.intro_text] = view.text
        if stage == "consent":
            updates[self.consent_text] = f"## Consent\n\n{view.text}"
            updates[self.participant] = gr.update(visible=view.ask_participant_id)
        if stage == "instructions":
            updates[self.instructions_text] = f"## Instructions\n\n{view.text}"
        if stage == "done":
            updates[self.done_text] = f"## {view.title}\n\n{view.text}"
            updates[self.code] = gr.update(value=view.code, visible=bool(view.code))
            updates[self.link] = gr.update(value=messages.return_link(view.link), visible=bool(view.link))
        if stage == "page":
            updates.update(self._page(view, same))
        return updates

    def _page(self, view: steps.View, same: bool) -> dict[Any, Any]:
        mushra = view.protocol == "mushra"
        done, total = view.progress
        practice = messages.PRACTICE if view.training else ""
        updates: dict[Any, Any] = {
            self.page_title: f"### {view.title}{practice}"
            + (f"\n\n{messages.training_example(view.example)}" if view.example else ""),
            self.progress: (
                f'<div class="lab-progress"><progress value="{done}" max="{total}" aria-label="Progress">'
                f"</progress><span>{messages.progress_text(done, total, view.training)}</span></div>"
            ),
        }
        if not same:
            updates[self.next_button] = gr.update(visible=not mushra)  # the panel has its own
        shows_reference = view.reference is not None and not mushra
        if shows_reference or not same:
            updates[self.reference] = gr.update(value=view.reference, visible=shows_reference)
        if mushra:
            updates[self.panel] = gr.update(value=self._panel_value(view), visible=True)
        elif not same:
            updates[self.panel] = gr.update(value=None, visible=False)
        single = view.clips[0] if view.clips and not mushra else None
        pair = view.clips[1] if view.protocol in COMPARISON_PROTOCOLS and len(view.clips) > 1 else None
        enabled = all(c.enabled for c in view.clips)  # CCR/A/B: both clips heard
        if single is not None or not same:
            updates[self.clip] = gr.update(
                value=single.audio if single else None,
                label=single.label if single else "Clip",
                visible=single is not None,
            )
        if pair is not None or not same:
            updates[self.clip_b] = gr.update(
                value=pair.audio if pair else None, label=pair.label if pair else "B", visible=pair is not None
            )
        locked = messages.PLAY_BOTH_TO_UNLOCK if pair else messages.PLAY_TO_UNLOCK
        info = "" if single is None or enabled else locked  # "" clears the hint (None would keep it)
        for index, radio in enumerate(self.radios):
            scale = view.scales[index] if single and index < len(view.scales) else None
            if scale and same:  # same scale as on the page before: only its answer and lock change
                updates[radio] = gr.update(value=None, interactive=enabled, info=info)
            elif scale:
                updates[radio] = gr.update(
                    choices=scale_choices(scale, self.no_preference),
                    value=None,
                    label=SCALE_QUESTIONS[scale],
                    visible=True,
                    interactive=enabled,
                    info=info,
                )
            elif not same:
                updates[radio] = gr.update(visible=False, value=None)
        return updates

    def _panel_value(self, view: steps.View) -> dict[str, Any]:
        """The MUSHRA panel's trial, its files as Gradio file data (served from Gradio's cache under a URL)."""
        spec = panel_spec(view.page_key, view.reference or "", [(c.label, c.audio) for c in view.clips], self.options)
        for stimulus in spec["stimuli"]:
            stimulus["audio"] = gr.FileData(path=stimulus["audio"]).model_dump()
        return spec


def build_tab(demo: gr.Blocks, services: Services) -> None:
    """The listening-test tab's components and events (inside the caller's `gr.Tab`)."""
    study_id = services.study.id if services.study else "none"
    browser = gr.BrowserState({}, storage_key=f"ddpmss-lab-{study_id}", secret=services.secret)
    visit = gr.State(None)
    message = gr.Markdown(visible=False)
    with gr.Column(visible=False) as intro_box:
        intro_text = gr.Markdown()
        read = gr.Button("Continue", variant="primary")
    with gr.Column(visible=False) as consent_box:
        consent_text = gr.Markdown()
        participant = gr.Textbox(label="Your participant id", visible=False, max_length=128)
        agree = gr.Button("I agree and want to take part", variant="primary")
    before = build_before(services.study)
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
        clip_b = gr.Audio(  # CCR/A/B: the second clip of the pair ("B"); `clip` is the first ("A")
            label="B",
            interactive=False,
            buttons=[],
            waveform_options=gr.WaveformOptions(show_recording_waveform=False),
            visible=False,
        )
        radios = [gr.Radio(choices=[], visible=False, interactive=False) for _ in range(MAX_SCALES)]
        panel = gr.HTML(
            None,
            html_template='<div class="mushra-root"></div>',
            js_on_load=PANEL_JS.read_text(encoding="utf-8"),
            apply_default_css=False,
            visible=False,
            elem_id="mushra-panel",
        )
        next_button = gr.Button("Save and continue", variant="primary")
    with gr.Column(visible=False) as done_box:
        done_text = gr.Markdown()
        code = gr.Textbox(label="Completion code", interactive=False, buttons=["copy"], visible=False)
        link = gr.HTML(visible=False, js_on_load=REDIRECT_JS.read_text(encoding="utf-8"))
    notice = gr.Markdown()
    ui = RaterUI(
        message,
        intro_box,
        intro_text,
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
        clip_b,
        radios,
        panel,
        next_button,
        done_box,
        done_text,
        code,
        link,
        notice,
        before,
        services.study.mushra if services.study else MushraOptions(),
        bool(services.study and services.study.no_preference),
    )
    outputs = ui.outputs()

    def shown(old: steps.Visit | None, after: steps.Visit, view: steps.View) -> dict[Any, Any]:
        """The view's updates, and the tab's state only when it is a new object (the steps change it in
        place; Gradio re-serialises every State it is handed)."""
        return {**({} if after is old else {visit: after}), **ui.render(view, after)}

    def on_load(stored: dict | None, request: gr.Request) -> dict[Any, Any]:
        query = dict(request.query_params) if request is not None else {}
        state, view, keep = steps.open_visit(services, stored, query)
        return {visit: state, browser: keep, **ui.render(view, state)}

    def on_read(state: steps.Visit | None) -> dict[Any, Any]:
        after, view = steps.introduced(services, state)
        return shown(state, after, view)

    def on_consent(state: steps.Visit | None, participant_text: str) -> dict[Any, Any]:
        after, view, keep = steps.consent(services, state, participant_text)
        return {**({browser: keep} if keep is not None else {}), **shown(state, after, view)}

    def on_qualify(state: steps.Visit | None, *values: Any) -> dict[Any, Any]:
        answers = dict(zip(QUESTION_KEYS, values[: len(QUESTION_KEYS)], strict=True))
        after, view = steps.qualify(services, state, answers, values[len(QUESTION_KEYS) :])
        return shown(state, after, view)

    def on_begin(state: steps.Visit | None) -> dict[Any, Any]:
        after, view = steps.begin(services, state)
        return shown(state, after, view)

    def on_submit(state: steps.Visit | None, *answers: Any) -> dict[Any, Any]:
        after, view = steps.submit(services, state, answers, [])
        return shown(state, after, view)

    def on_rate(state: steps.Visit | None, event: gr.EventData) -> dict[Any, Any]:
        after, view = steps.submit_panel(services, state, event._data)
        return shown(state, after, view)

    def on_listen(state: steps.Visit | None, event: gr.EventData) -> None:
        heard = event._data if isinstance(event._data, dict) else {}
        previous, current = heard.get("previous"), heard.get("current")
        if isinstance(previous, int) and isinstance(current, int):
            steps.switched(services, state, previous, current)

    def on_end(slot: int) -> Callable[[steps.Visit | None], list[Any]]:
        def unlock(state: steps.Visit | None) -> list[Any]:
            scales = len(state.page.scales) if state is not None and state.page is not None else 0
            if not steps.ended(services, state, slot):
                return [gr.skip()] * MAX_SCALES
            return [gr.update(interactive=True, info="") if i < scales else gr.skip() for i in range(MAX_SCALES)]

        return unlock

    demo.load(on_load, [browser], [visit, browser, *outputs], **RATER_EVENT)
    read.click(on_read, [visit], [visit, *outputs], **RATER_EVENT)
    agree.click(on_consent, [visit, participant], [visit, browser, *outputs], **RATER_EVENT)
    before.button.click(on_qualify, [visit, *before.inputs()], [visit, *outputs], **RATER_EVENT)
    start.click(on_begin, [visit], [visit, *outputs], **RATER_EVENT)
    next_button.click(on_submit, [visit, *radios], [visit, *outputs], **RATER_EVENT)
    panel.rate(on_rate, [visit], [visit, *outputs], **RATER_EVENT)
    panel.listen(on_listen, [visit], None, **PLAYER_EVENT)
    for slot, player in enumerate((clip, clip_b)):
        player.play(_player(services, steps.played, slot), [visit], None, **PLAYER_EVENT)
        player.pause(_player(services, steps.paused, slot), [visit], None, **PLAYER_EVENT)
        player.stop(on_end(slot), [visit], radios, **PLAYER_EVENT)


def _player(services: Services, handler: Callable[..., Any], slot: int) -> Callable[[steps.Visit | None], None]:
    def on_event(state: steps.Visit | None) -> None:
        handler(services, state, slot)

    return on_event
