"""Build models from the architecture hyperparams YAML and save them in the SpeechBrain layout.

`hparams/<kind>.yaml` (sepformer, diffwave, fusion) is an inference hyperparams file whose top-level
values are the architecture's knobs; a training config (`hparams/train_*.yaml`, also hyperparams YAML)
sets them through hyperpyyaml's overrides, as SpeechBrain recipes do.

A saved model folder is `hyperparams.yaml` + one `<loadable>.ckpt` per loadable, exactly what
`from_hparams(source=folder)` reads: the public checkpoints, our offline models and the tiny test
models all go through the same loading code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from hyperpyyaml import load_hyperpyyaml, resolve_references
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, TaggedScalar

HPARAMS_DIR = Path(__file__).resolve().parent / "hparams"


def model_hparams(kind: str, overrides: Mapping[str, object] | None = None) -> str:
    """`hparams/<kind>.yaml` with `overrides` of its top-level values applied and references resolved by
    hyperpyyaml: the text a saved model folder carries. KeyError naming the keys when one is unknown."""
    template = (HPARAMS_DIR / f"{kind}.yaml").read_text()
    return resolve_references(template, dict(overrides or {}), overrides_must_match=True).getvalue()


def architecture_values(kind: str, config: Mapping[str, object]) -> dict[str, object]:
    """The values of a training `config` that `hparams/<kind>.yaml` declares as top-level knobs (plain
    values, not objects); the rest of the config are training settings."""
    template = YAML().load((HPARAMS_DIR / f"{kind}.yaml").read_text())
    knobs = [key for key, value in template.items() if not isinstance(value, (CommentedMap, TaggedScalar))]
    return {key: config[key] for key in knobs if key in config}


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
    text = model_hparams(kind, values)
    return save_model_dir(folder, text, instantiate(text))
