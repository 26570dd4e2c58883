"""The layers of edgeres' ResNets that torch-pruning cannot trace through, with the pruners that teach it."""

from __future__ import annotations

import torch_pruning as tp
from torch import nn

from ..models.cifar_resnet import PadShortcut
from ..models.resnet import EfficientChannelAttention
from ._attention import EcaPruner
from ._shortcut import PadShortcutPruner


def customized_pruners() -> dict[type[nn.Module], tp.pruner.BasePruningFunc]:
    """{layer type: its pruner}, for DepGraph and the pruners built on it."""
    return {PadShortcut: PadShortcutPruner(), EfficientChannelAttention: EcaPruner()}
