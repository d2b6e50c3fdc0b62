"""Build models from the hparams templates and save them in the SpeechBrain layout.

A saved model folder is `hyperparams.yaml` + one `<loadable>.ckpt` per loadable, exactly what
`from_hparams(source=folder)` reads: the public checkpoints, our offline models and the tiny test
models all go through the same loading code.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from hyperpyyaml import load_hyperpyyaml

HPARAMS_DIR = Path(__file__).resolve().parent / "hparams"


def render_hparams(kind: str, **values: object) -> str:
    """The template `hparams/<kind>.yaml` with top-level scalar values replaced."""
    text = (HPARAMS_DIR / f"{kind}.yaml").read_text()
    for key, value in values.items():
        pattern = re.compile(rf"^{re.escape(key)}: .*$", re.MULTILINE)
        if not pattern.search(text):
            raise KeyError(f"hparams/{kind}.yaml has no top-level key '{key}'")
        text = pattern.sub(f"{key}: {_yaml_scalar(value)}", text)
    return text


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def instantiate(hparams_text: str) -> dict:
    """Create the objects an hparams text describes (fresh random weights)."""
    return load_hyperpyyaml(hparams_text)


def save_model_dir(folder: str | Path, hparams_text: str, hparams: dict) -> Path:
    """Write `hyperparams.yaml` and every pretrainer loadable's state dict into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hyperparams.yaml").write_text(hparams_text)
    for name, module in hparams["pretrainer"].loadables.items():
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        torch.save(state, folder / f"{name}.ckpt")
    return folder


def write_random_model(folder: str | Path, kind: str, seed: int = 0, **values: object) -> Path:
    """A model folder with random weights (for tests and timing with the real architectures)."""
    torch.manual_seed(seed)
    text = render_hparams(kind, **values)
    return save_model_dir(folder, text, instantiate(text))


# The templates' defaults are the full-size public architectures; these are tiny ones for tests.
TINY_SEPFORMER = dict(
    enc_channels=16, enc_kernel=16, n_layers=1, d_model=16, n_heads=2, d_ffn=32, chunk_size=50, dual_blocks=1
)
TINY_DIFFWAVE = dict(
    sample_rate=16000,
    residual_layers=2,
    residual_channels=8,
    dilation_cycle_length=2,
    spec_n_mels=20,
    spec_n_fft=512,
    spec_win_length=512,
    spec_f_max=8000.0,
)
TINY_FUSION = dict(channels=4, layers=3)
