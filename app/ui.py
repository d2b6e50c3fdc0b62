"""The app's Blocks: one page per page module and the launch options.

The study link (the root `/`, also what a Space opens) shows only the listening test; the side-by-side lab
is at `/lab` and the admin results at `/results`. No page links to another (every navbar is hidden), so a
rater never sees the lab or the results.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from app import lab, rater, results
from app.mushra import PANEL_CSS
from app.playback import BLIND_MAX_AGE_S
from app.services import Services
from ddpmss.settings import EXAMPLES_DIR

CSS = """
.gradio-container {width: 100%; max-width: 1180px !important; margin: auto;}
.lab-progress {display: flex; align-items: center; gap: .75rem; margin: .25rem 0 .5rem;}
.lab-progress progress {flex: 1; height: 1rem; accent-color: var(--color-accent);}
.lab-notice {color: var(--error-text-color, #b91c1c); font-weight: 600;}
.lab-return a {display: inline-block; padding: .6rem 1rem; border-radius: .5rem; font-weight: 600;
  background: var(--button-primary-background-fill); color: var(--button-primary-text-color); text-decoration: none;}
/* Gradio 6.31 still draws a "Home" link in a multipage app whose navbars are hidden: no page links anywhere. */
.nav-holder {display: none !important;}
@media (max-width: 640px) {.gradio-container {padding: 0 .4rem !important;}}
"""
# Files in Gradio's cache (uploads, served copies of clips and lab outputs) are checked every hour and
# removed once as old as the blind copies of the stimuli (so an open rating page keeps its clips).
CACHE_EXPIRY = (3600, int(BLIND_MAX_AGE_S))
LAB_PATH = "/lab"
RESULTS_PATH = "/results"


def build_app(services: Services, access: results.Access) -> gr.Blocks:
    """The whole app; the results page exists only when `access.mode` is not 'off'."""
    title = services.study.title if services.study else "Speech separation listening lab"
    with gr.Blocks(title=title, delete_cache=CACHE_EXPIRY) as demo:
        gr.Navbar(visible=False, main_page_name=False)
        gr.Markdown(f"# {title}")
        rater.build_tab(demo, services)
    with demo.route("Side-by-side lab", LAB_PATH, show_in_navbar=False):
        gr.Navbar(visible=False, main_page_name=False)
        gr.Markdown("# Side-by-side lab")
        lab.build_tab(demo, services)
    if access.mode != "off":
        with demo.route("Results", RESULTS_PATH, show_in_navbar=False):
            gr.Navbar(visible=False, main_page_name=False)
            gr.Markdown(f"# Results: {title}")
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
        "css": CSS + PANEL_CSS.read_text(encoding="utf-8"),
        "show_error": False,
    }
