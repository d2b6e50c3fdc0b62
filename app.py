"""Start the listening lab: `python app.py [--host H] [--port P] [--data-dir D] [--models M] [--study S]`.

Every flag also has an environment variable (LAB_HOST, LAB_PORT, LAB_DATA_DIR, LAB_STUDY, DDPMSS_MODELS,
...; see listening_tests.settings.LabSettings); flags win. On Hugging Face Spaces the host comes from
GRADIO_SERVER_NAME and the data directory is /data when persistent storage is enabled. Models load in
the background, so the page is served within seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

RUNTIME_DIR = Path(tempfile.gettempdir()) / "ddpmss-lab"  # served scratch files (never the data directory)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line flags (all optional)."""
    parser = argparse.ArgumentParser(description="Listening tests and side-by-side lab for speech separation")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1; $LAB_HOST)")
    parser.add_argument("--port", type=int, help="port (default 7860; $LAB_PORT)")
    parser.add_argument("--data-dir", type=Path, help="ratings database and app secret (default ./data; $LAB_DATA_DIR)")
    parser.add_argument("--db", dest="db_url", help="database URL (default SQLite in the data dir; $LAB_DB_URL)")
    parser.add_argument("--study", type=Path, help="study YAML (default studies/example.yaml; $LAB_STUDY)")
    parser.add_argument("--models", help="auto | hub | offline | PATH (default auto; $DDPMSS_MODELS)")
    parser.add_argument("--device", help="auto | cpu | cuda (default auto; $DDPMSS_DEVICE)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int | None:
    """Load settings, study and store, print what is served, start the models loading and launch."""
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    # Gradio 6 rebuilds a pandas summary of its last 10,000 events after every event (for its optional
    # monitoring dashboard, which this app does not enable): with 50 raters that was a large share of the
    # server's one interpreter (docs/benchmarks.md, "Rater submission latency"). Rebuild it at most every
    # million events.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000000")
    os.environ.setdefault("GRADIO_TEMP_DIR", str(RUNTIME_DIR / "gradio"))
    if args.host is None and not os.environ.get("LAB_HOST"):
        args.host = os.environ.get("GRADIO_SERVER_NAME")  # set by Hugging Face Spaces

    from app.hf_sync import start_sync
    from app.results import admin_access
    from app.services import models_line, open_services, prepare_stimuli, study_line
    from app.ui import build_app, launch_options
    from ddpmss.settings import SettingsError
    from listening_tests.settings import LabSettings

    try:
        settings = LabSettings.from_env(**vars(args))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    services = open_services(settings, RUNTIME_DIR)
    print(study_line(services), flush=True)
    print(models_line(settings), flush=True)
    services.models.start()
    prepare_stimuli(services)
    access = admin_access(services)
    print(f"pages: / (listening test), /lab (lab), /results ({access.mode})", flush=True)
    if start_sync(services) is not None:
        print(f"ratings are pushed to the private dataset {settings.hf_dataset}", flush=True)
    build_app(services, access).queue().launch(**launch_options(services))


if __name__ == "__main__":
    sys.exit(main())
