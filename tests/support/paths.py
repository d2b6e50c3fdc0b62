"""Where the tests find the project and their committed data."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "data" / "ddpm-ss-samples"  # real Libri2Mix case: see its README.md
