"""Hugging Face transformers' ResNetForImageClassification (microsoft/resnet-* and every model fine-tuned
from them): `resnet.embedder...`, `resnet.encoder.stages.S.layers.B.layer.I...`, `classifier.1`.

The network is torchvision's ResNet with free stage widths (`embedding_size`, `hidden_sizes`), so the keys map
onto torchvision's names; strides and activation are not in the weights but in config.json (`hf_config.py`).
"""

from __future__ import annotations

import re

import torch

from ..spec import ArchSpec
from .layout import Layout, StateDict

STEM = "resnet.embedder.embedder."
_BLOCK = re.compile(
    r"^resnet\.encoder\.stages\.(\d+)\.layers\.(\d+)\.(shortcut|layer\.(\d+))\.(convolution|normalization)\."
)
_PART = {"convolution": ("conv", "0"), "normalization": ("bn", "1")}


def _matches(sd: StateDict) -> bool:
    return STEM + "convolution.weight" in sd


def _renamed(key: str) -> str:
    if key.startswith(STEM):
        rest = key[len(STEM) :]
        return rest.replace("convolution.", "conv1.", 1).replace("normalization.", "bn1.", 1)
    if key.startswith("classifier.1."):
        return "fc." + key[len("classifier.1.") :]
    match = _BLOCK.match(key)
    if match is None:
        return key  # left as it is: the strict load names it
    stage, block, part, index, kind = match.groups()
    prefix = f"layer{int(stage) + 1}.{block}."
    name = f"downsample.{_PART[kind][1]}." if part == "shortcut" else f"{_PART[kind][0]}{int(index) + 1}."
    return prefix + name + key[match.end() :]


def _rename(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {_renamed(key): value for key, value in sd.items()}


def _source(spec: ArchSpec) -> str:
    return "Hugging Face transformers (ResNetForImageClassification)"


LAYOUT = Layout(
    key="huggingface",
    source=_source,
    matches=_matches,
    family="torchvision",
    rename=_rename,
    free_widths=True,
    without_config=" without its config.json: transformers' defaults assumed (ReLU, stride 1 in the first stage, "
    "bottlenecks striding in the 3x3 conv)",
)
