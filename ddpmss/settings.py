"""One settings object for the separation package, read from environment variables and CLI flags.

`listening_tests.settings.LabSettings` extends it with the study, storage and web-app fields, so
the whole project is configured by one object.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
OFFLINE_MODELS_DIR = PACKAGE_DIR / "pretrained"
EXAMPLES_DIR = PROJECT_DIR / "examples"

HUB_SEPFORMER = "speechbrain/sepformer-wsj02mix"
HUB_DIFFWAVE = "speechbrain/tts-diffwave-ljspeech"

PIPELINES = ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion")


@dataclass
class Settings:
    """Separation settings. Every field has an environment variable (`DDPMSS_<FIELD>`)."""

    models: str = "auto"  # auto | hub | offline | PATH (a folder with sepformer/ diffwave/ fusion/)
    sepformer: str | None = None  # overrides the SepFormer source (hub id or local folder)
    vocoder: str | None = None  # overrides the DiffWave source (hub id or local folder)
    fusion: str | None = None  # overrides the fusion checkpoint folder
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 (vocoder only; auto = bf16 where the hardware has it)
    threads: int = 0  # 0 = all cores
    output_sr: int = 16000
    max_seconds: float = 600.0  # longest mixture accepted
    min_seconds: float = 0.1  # shortest mixture accepted
    max_upload_mb: float = 100.0  # files above this size are refused before decoding
    hub_timeout_s: float = 3.0  # how long `auto` waits for the hub before going offline
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "ddpmss")
    # the vocoder's 6-step noise schedule; None = the model's own (`ddpmss.vocoder.model_fast_schedule`)
    fast_steps: tuple[float, ...] | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> "Settings":
        """Build settings from `DDPMSS_*` environment variables; explicit overrides win (CLI flags)."""
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            if f.name == "fast_steps":
                continue
            raw = os.environ.get(f"{_prefix(cls, f.name)}{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def resolved_device(self) -> str:
        """The torch device string to run on."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_precision(self) -> str:
        """The vocoder's precision: `auto` is bf16 on hardware with native bf16 arithmetic (CUDA GPUs
        that support it, CPUs with AVX512-BF16 or AMX), else fp32. bf16 stays within 25 dB SI-SDR of
        fp32 with the same noise (tests/test_vocoder.py; `python -m ddpmss bench` measures it);
        `fp32` is exact against the stock sampler."""
        if self.precision != "auto":
            return self.precision
        if self.resolved_device() == "cuda":
            import torch

            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if _cpu_has_native_bf16() else "fp32"


def _prefix(cls: type, name: str) -> str:
    # Fields declared on Settings use DDPMSS_; fields of subclasses use their own prefix.
    owner = next(c for c in cls.__mro__ if name in getattr(c, "__annotations__", {}))
    return getattr(owner, "ENV_PREFIX", "DDPMSS_")


def _coerce(f: dataclasses.Field, raw: str) -> object:
    kind = str(f.type)
    if "bool" in kind:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind.startswith("int"):
        return int(raw)
    if kind.startswith("float"):
        return float(raw)
    if "Path" in kind:
        return Path(raw)
    return raw


def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
