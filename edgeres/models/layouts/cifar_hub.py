"""CIFAR ResNets with torchvision's names: chenyaofo/pytorch-cifar-models (the torch.hub `cifar10_resnet20` ...
`cifar100_resnet56`) and repositories like it: three stages of basic blocks, 1x1 projection shortcuts under
`downsample`, an `fc` classifier. They are He et al.'s CIFAR ResNets (option B), renamed.
"""

from __future__ import annotations

from typing import Any

import torch

from ..names import CIFAR_WIDTHS
from ..spec import ArchSpec
from .layout import Layout, StateDict, renamed, stage_blocks

# The normalization chenyaofo's training configuration (image-classification-codebase conf/cifar10.conf and
# conf/cifar100.conf) applies; its hub files are bare state_dicts that do not say.
_NORMALIZATION = {
    10: ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    100: ((0.5070, 0.4865, 0.4409), (0.2673, 0.2564, 0.2761)),
}


def _matches(sd: StateDict) -> bool:
    return (
        "fc.weight" in sd
        and "linear.weight" not in sd
        and len(stage_blocks(sd)) == 3
        and "layer1.0.conv3.weight" not in sd
        and "bn1.weight" in sd
    )


def _rename(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return renamed(sd, (".downsample.", ".shortcut."), ("fc.", "linear."))


def _is_chenyaofo(spec: ArchSpec) -> bool:
    return spec.widths == CIFAR_WIDTHS and spec.shortcut == "B" and spec.num_classes in _NORMALIZATION


def _source(spec: ArchSpec) -> str:
    if _is_chenyaofo(spec):
        return "torch.hub CIFAR (chenyaofo/pytorch-cifar-models)"
    return "CIFAR ResNet with torchvision's names (fc, downsample)"


def _card_hints(spec: ArchSpec) -> dict[str, Any]:
    if not _is_chenyaofo(spec):
        return {}
    mean, std = _NORMALIZATION[spec.num_classes]
    return {"mean": mean, "std": std, "input_size": (32, 32)}


LAYOUT = Layout(
    key="cifar-hub",
    source=_source,
    matches=_matches,
    family="cifar",
    rename=_rename,
    card_hints=_card_hints,
)
