"""The app's Blocks: one tab per page module (listening test, side-by-side lab, admin results) and launch options."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app import lab, rater, results
from app.playback import BLIND_MAX_AGE_S
from app.services import Services
from ddpmss.settings import EXAMPLES_DIR

CSS = """
.gradio-container {width: 100%; max-width: 1180px !important; margin: auto;}
.lab-progress {display: flex; align-items: center; gap: .75rem; margin: .25rem 0 .5rem;}
.lab-progress progress {flex: 1; height: 1rem; accent-color: var(--color-accent);}
.lab-notice {color: var(--error-text-color, #b91c1c); font-weight: 600;}
@media (max-width: 640px) {.gradio-container {padding: 0 .4rem !important;}}
"""
# Files in Gradio's cache (uploads, served copies of clips and lab outputs) are checked every hour and
# removed once as old as the blind copies of the stimuli (so an open rating page keeps its clips).
CACHE_EXPIRY = (3600, int(BLIND_MAX_AGE_S))


def build_app(services: Services, access: results.Access) -> gr.Blocks:
    """The whole app; the results tab exists only when `access.mode` is not 'off'."""
    title = services.study.title if services.study else "Speech separation listening lab"
    with gr.Blocks(title=title, delete_cache=CACHE_EXPIRY) as demo:
        gr.Markdown(f"# {title}")
        with gr.Tabs():
            with gr.Tab("Listening test", id="test"):
                rater.build_tab(demo, services)
            with gr.Tab("Side-by-side lab", id="lab"):
                lab.build_tab(demo, services)
            if access.mode != "off":
                with gr.Tab("Results", id="results"):
                    results.build_tab(services, access)
    return demo


def launch_options(services: Services) -> dict[str, Any]:
    """Keyword arguments of `Blocks.launch` (theme, css, limits, which paths may be served)."""
    settings = services.settings
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "max_file_size": int(settings.max_upload_mb * 1e6),
        "allowed_paths": [str(EXAMPLES_DIR)],
        "blocked_paths": [str(settings.data_dir)],
        "theme": gr.themes.Soft(),
        "css": CSS,
        "show_error": False,
    }
