"""The page before the test (a study's `before_test`): P.808's questions and the headphone check.

Components only: the questions come from listening_tests.qualification, the check's sounds and its scoring
from listening_tests.headphones (through `app.steps`), the sentences from app.messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from app import messages, steps
from listening_tests.qualification import QUESTIONS
from listening_tests.study import Study


@dataclass
class BeforeUI:
    """The page's components, and how a `steps.View` updates them."""

    box: gr.Column
    text: gr.Markdown
    questions: list[gr.Radio]
    players: list[gr.Audio]
    picks: list[gr.Radio]
    button: gr.Button

    def outputs(self) -> list[Any]:
        """Every component a view may change."""
        return [self.box, self.text, *self.questions, *self.players, *self.picks]

    def inputs(self) -> list[Any]:
        """The answers, questions first, then one pick per check trial."""
        return [*self.questions, *self.picks]

    def render(self, view: steps.View) -> dict[Any, Any]:
        """Show the page for a `before` view (answers cleared), hide it for any other."""
        shown = view.stage == "before"
        updates: dict[Any, Any] = {self.box: gr.update(visible=shown)}
        if not shown:
            return updates
        updates[self.text] = f"## {view.title}\n\n{view.text}"
        for radio in self.questions:
            updates[radio] = gr.update(visible=view.questions, value=None)
        for index, (player, pick) in enumerate(zip(self.players, self.picks, strict=True)):
            clip = view.check_clips[index] if index < len(view.check_clips) else None
            updates[player] = gr.update(value=clip, visible=clip is not None)
            updates[pick] = gr.update(value=None, visible=clip is not None)
        return updates


def build(study: Study | None) -> BeforeUI:
    """The page's components, hidden until a `before` view shows them (one player per check trial)."""
    check = study.before_test.headphone_check if study else None
    with gr.Column(visible=False) as box:
        text = gr.Markdown()
        questions = [
            gr.Radio(choices=[(label, value) for value, label in q.choices], label=q.text, visible=False)
            for q in QUESTIONS
        ]
        players, picks = [], []
        for trial in range(1, (check.trials if check else 0) + 1):
            players.append(
                gr.Audio(
                    label=f"Sound {trial}",
                    interactive=False,
                    buttons=[],
                    waveform_options=gr.WaveformOptions(show_recording_waveform=False),
                    visible=False,
                )
            )
            picks.append(gr.Radio(choices=messages.CHECK_CHOICES, label=messages.check_label(trial), visible=False))
        button = gr.Button("Continue to the instructions", variant="primary")
    return BeforeUI(box, text, questions, players, picks, button)
