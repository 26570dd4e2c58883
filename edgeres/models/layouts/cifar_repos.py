"""The 4-stage `shortcut`/`linear` layout of popular CIFAR repositories (kuangliu/pytorch-cifar's ResNet18 and
its many copies): torchvision ResNets with a 3x3 stem, renamed. 3-stage models with `linear` are He et al.'s
CIFAR ResNets and keep their names (the native layout)."""

from __future__ import annotations

from typing import Any

import torch

from ..spec import ArchSpec
from .layout import Layout, StateDict, renamed, stage_blocks

# kuangliu/pytorch-cifar trains at 32x32 with these (main.py's transforms.Normalize); its files do not say.
KUANGLIU_HINTS: dict[str, Any] = {
    "input_size": (32, 32),
    "mean": (0.4914, 0.4822, 0.4465),
    "std": (0.2023, 0.1994, 0.2010),
}


def card_hints(spec: ArchSpec) -> dict[str, Any]:
    return dict(KUANGLIU_HINTS)


def _matches(sd: StateDict) -> bool:
    return "linear.weight" in sd and "fc.weight" not in sd and len(stage_blocks(sd)) == 4 and "bn1.weight" in sd


def _rename(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return renamed(sd, (".shortcut.", ".downsample."), ("linear.", "fc."))


def _source(spec: ArchSpec) -> str:
    return "CIFAR repository ResNet (kuangliu/pytorch-cifar layout: shortcut, linear)"


LAYOUT = Layout(
    key="cifar-repos",
    source=_source,
    matches=_matches,
    family="torchvision",
    rename=_rename,
    card_hints=card_hints,
)
