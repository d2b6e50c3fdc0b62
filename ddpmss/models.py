"""Where the models come from and how they are loaded.

Production: the public SpeechBrain checkpoints from the Hugging Face hub, cached after the first
download. Offline: the project's own small models in `ddpmss/pretrained/`, saved in the same
SpeechBrain layout (`hyperparams.yaml` + `<loadable>.ckpt`) and loaded by the same code.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from ddpmss.settings import HUB_DIFFWAVE, HUB_SEPFORMER, OFFLINE_MODELS_DIR, Settings

log = logging.getLogger(__name__)

HUB_HOST = ("huggingface.co", 443)


class ModelError(RuntimeError):
    """A model that cannot be had or does not match its architecture (message: one sentence)."""


# what the app and the CLI add to the offline models' names (MODEL_CARD.md has the figures)
OFFLINE_NOTE = (
    " (small demo models trained on synthetic voices, not the published checkpoints; the demo DiffWave"
    " refines in one step a waveform estimated from the mel alone)"
)


@dataclass(frozen=True)
class ModelSources:
    """Where each of the three models is read from, and whether they are the offline demo models."""

    sepformer: str
    vocoder: str
    fusion: str | None
    offline: bool

    def describe(self) -> str:
        """One line naming the models in use, for the CLI and the app."""
        fusion = self.fusion or "none (identity on SepFormer)"
        text = f"SepFormer: {self.sepformer}; DiffWave: {self.vocoder}; fusion: {fusion}"
        if self.offline:
            text += OFFLINE_NOTE
        return text

    def names(self) -> str:
        """`describe()` without server paths, for people using the app: the published checkpoints by their
        hub ids, the offline models by their place in the project, any other folder by its last two parts."""
        fusion = public_name(self.fusion) if self.fusion else "none (identity on SepFormer)"
        text = f"SepFormer: {public_name(self.sepformer)}; DiffWave: {public_name(self.vocoder)}; fusion: {fusion}"
        if self.offline:
            text += OFFLINE_NOTE
        return text


def public_name(source: str) -> str:
    """A model source named without its absolute path (see `ModelSources.names`)."""
    if source in (HUB_SEPFORMER, HUB_DIFFWAVE):
        return f"{source} (published checkpoint)"
    path = Path(source)
    if not (path.is_absolute() or is_local_model(source)):
        return f"{source} (from the hub)"
    path = path.resolve()
    if path.parent == OFFLINE_MODELS_DIR:
        return f"{path.relative_to(OFFLINE_MODELS_DIR.parent.parent).as_posix()} (offline model of this project)"
    return f"local checkpoint {path.parent.name}/{path.name}"


def is_local_model(source: str) -> bool:
    """True when `source` is a folder in the SpeechBrain layout (else SpeechBrain takes it as a hub id)."""
    return (Path(source) / "hyperparams.yaml").is_file()


def model_checksums(sources: ModelSources, settings: Settings) -> dict[str, str | None]:
    """SHA-256 per model of the files that define it (hyperparams.yaml and the checkpoints, by name and
    content), so that a saved run says exactly which weights made it; None where the files are not here."""
    checksums: dict[str, str | None] = {}
    for role, source in (("sepformer", sources.sepformer), ("vocoder", sources.vocoder), ("fusion", sources.fusion)):
        if source is None:
            continue
        folder = Path(source) if is_local_model(source) else hub_cache_dir(settings, source)
        checksums[role] = _folder_sha256(folder.resolve()) if is_local_model(str(folder)) else None
    return checksums


def _folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([folder / "hyperparams.yaml", *folder.glob("*.ckpt")]):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def hub_cache_dir(settings: Settings, hub_id: str) -> Path:
    """One savedir per hub model: SpeechBrain silently loads the wrong files if two share one."""
    return Path(settings.cache_dir) / "hub" / hub_id.replace("/", "--")


def hub_reachable(timeout_s: float) -> bool:
    """Whether the Hugging Face hub answers a TCP connection within `timeout_s`."""
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_sources(settings: Settings) -> ModelSources:
    """Turn the `models` setting (auto | hub | offline | PATH) and per-model overrides into sources."""
    choice = settings.models
    if choice == "offline":
        sources = _offline_sources()
    elif choice == "hub":
        sources = _hub_sources(settings, require=True)
    elif choice == "auto":
        sources = _hub_sources(settings, require=False) or _offline_sources()
    else:
        root = Path(choice)
        if not (root / "sepformer").is_dir() or not (root / "diffwave").is_dir():
            raise ModelError(
                f"The models folder '{choice}' must hold sepformer/ and diffwave/ (and optionally "
                "fusion/) in the SpeechBrain layout; use --models auto|hub|offline|PATH."
            )
        fusion = root / "fusion"
        sources = ModelSources(
            str(root / "sepformer"), str(root / "diffwave"), str(fusion) if fusion.is_dir() else None, False
        )
    return ModelSources(
        sepformer=settings.sepformer or sources.sepformer,
        vocoder=settings.vocoder or sources.vocoder,
        fusion=settings.fusion or sources.fusion,
        offline=sources.offline and not (settings.sepformer or settings.vocoder),
    )


def _offline_sources() -> ModelSources:
    fusion = OFFLINE_MODELS_DIR / "fusion"
    return ModelSources(
        sepformer=str(OFFLINE_MODELS_DIR / "sepformer"),
        vocoder=str(OFFLINE_MODELS_DIR / "diffwave"),
        fusion=str(fusion) if fusion.is_dir() else None,
        offline=True,
    )


def _hub_sources(settings: Settings, require: bool) -> ModelSources | None:
    cached = all(is_local_model(str(hub_cache_dir(settings, h))) for h in (HUB_SEPFORMER, HUB_DIFFWAVE))
    if cached or hub_reachable(settings.hub_timeout_s):
        return ModelSources(HUB_SEPFORMER, HUB_DIFFWAVE, settings.fusion, offline=False)
    if require:
        raise ModelError(
            "The Hugging Face hub cannot be reached and the public checkpoints are not cached; "
            "connect once to download them, or use --models offline (or DDPMSS_MODELS=offline)."
        )
    log.info("Hub not reachable within %.0f s: using the offline demo models.", settings.hub_timeout_s)
    return None


def load_pretrained(cls: type, source: str, settings: Settings, device: str) -> object:
    """Load a SpeechBrain `Pretrained` subclass from a local folder or a hub id, and verify its weights."""
    if is_local_model(source):
        savedir = None  # read the folder in place
    else:
        cached = hub_cache_dir(settings, source)
        if is_local_model(str(cached)):
            source, savedir = str(cached), None
        else:
            savedir = str(cached)
    try:
        model = cls.from_hparams(source=source, savedir=savedir, run_opts={"device": device})
    except Exception as exc:
        if "size mismatch" in str(exc):
            raise ModelError(
                f"A checkpoint of '{source}' does not match its architecture (mis-shaped weights)."
            ) from exc
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"The model '{source}' could not be loaded: {first_line}") from exc
    verify_weights(model, source)
    model.eval()
    return model


def verify_weights(model: object, source: str) -> None:
    """SpeechBrain loads checkpoints non-strictly; refuse any missing, unexpected or mis-shaped weight."""
    pretrainer = model.hparams.pretrainer
    for name, module in pretrainer.loadables.items():
        if not isinstance(module, torch.nn.Module):
            continue
        state = torch.load(pretrainer.paths[name], map_location="cpu", weights_only=True)
        expected = module.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        shapes = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
        if missing or unexpected or shapes:
            raise ModelError(
                f"The checkpoint '{name}' of '{source}' does not match its architecture "
                f"({len(missing)} missing, {len(unexpected)} unexpected, {len(shapes)} mis-shaped weights)."
            )
