"""One settings object for the separation package, read by pydantic-settings from `DDPMSS_<FIELD>`
environment variables and CLI flags (flags win).

`listening_tests.settings.LabSettings` extends it with the study, storage and web-app fields, so
the whole project is configured by one object.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
OFFLINE_MODELS_DIR = PACKAGE_DIR / "pretrained"
EXAMPLES_DIR = PROJECT_DIR / "examples"

HUB_SEPFORMER = "speechbrain/sepformer-wsj02mix"
HUB_DIFFWAVE = "speechbrain/tts-diffwave-ljspeech"

PIPELINES = ("sepformer", "sepformer_diffwave", "sepformer_diffwave_fusion")


class SettingsError(ValueError):
    """A setting (environment variable or flag) that cannot be used, as one sentence naming it."""


class Settings(BaseSettings):
    """Separation settings. Every field has an environment variable (`DDPMSS_<FIELD>`); empty ones are ignored."""

    model_config = SettingsConfigDict(env_prefix="DDPMSS_", env_ignore_empty=True, populate_by_name=True)

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
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "ddpmss")
    # the vocoder's 6-step noise schedule (a JSON list in DDPMSS_FAST_STEPS); None = the model's own
    # (`ddpmss.vocoder.model_fast_schedule`)
    fast_steps: tuple[float, ...] | None = None
    # how many of those steps a shallow sampler takes from its mel-only start (DDPMSS_SHALLOW_STEPS); None =
    # the model's own `shallow_steps`, 0 = every step from pure noise (`ddpmss.vocoder.model_sampler`)
    shallow_steps: int | None = Field(default=None, ge=0)
    # the seed of the vocoder's noise, drawn anew from it for every mixture: the same mixture and models give
    # the same outputs, so stimuli and evaluations can be made again (the stock code draws unseeded noise)
    vocoder_seed: int = 0

    @classmethod
    def from_env(cls, **flags: object) -> Settings:
        """Build settings from the environment; flags that are not None win (CLI flags).

        SettingsError in one sentence naming the variable or flag when a value is invalid."""
        given = {name: value for name, value in flags.items() if value is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise SettingsError(_sentence(cls, exc.errors()[0], given)) from None

    def resolved_device(self) -> str:
        """The torch device string to run on."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def resolved_precision(self) -> str:
        """The vocoder's precision: `auto` is bf16 on hardware with native bf16 arithmetic (CUDA GPUs
        that support it, CPUs with AVX512-BF16 or AMX), else fp32. bf16 stays within 25 dB SI-SDR of
        fp32 with the same noise (tests/ddpmss/test_vocoder.py; `python -m ddpmss bench` measures it);
        `fp32` is exact against the stock sampler."""
        if self.precision != "auto":
            return self.precision
        if self.resolved_device() == "cuda":
            import torch

            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if _cpu_has_native_bf16() else "fp32"


def _env_name(cls: type[Settings], name: str) -> str:
    """The environment variable of field `name` (its alias, else the class's prefix + NAME)."""
    field = cls.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    return alias if isinstance(alias, str) else f"{cls.model_config['env_prefix']}{name.upper()}"


def _sentence(cls: type[Settings], error: dict, flags: dict[str, object]) -> str:
    """One sentence for pydantic's first validation error."""
    loc = str(error["loc"][0]) if error["loc"] else "?"
    name = next((n for n, f in cls.model_fields.items() if loc in (n, f.validation_alias)), loc)
    source = (
        f"The flag --{name.replace('_', '-')}" if name in flags else f"The environment variable {_env_name(cls, name)}"
    )
    return f"{source} has the value {error.get('input')!r}, which is not valid: {error['msg']}."


def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
