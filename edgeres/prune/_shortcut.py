"""Teach torch-pruning the option A shortcut: a parameter-free map from input to output channels.

DepGraph cannot see through zero channel padding, so the shortcut is registered as its own layer whose
input and output channels prune independently: pruning an output drops that entry of the map, pruning an
input renumbers the map and turns entries that copied it into zero channels. The residual addition still
couples the shortcut's outputs with the block's last conv, which DepGraph handles.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch_pruning as tp

from ..models.cifar_resnet import PadShortcut


class PadShortcutPruner(tp.pruner.BasePruningFunc):  # type: ignore[misc]
    TARGET_MODULES = PadShortcut

    def prune_out_channels(self, layer: PadShortcut, idxs: Sequence[int]) -> PadShortcut:
        drop = set(int(i) for i in idxs)
        keep = [i for i in range(layer.out_planes) if i not in drop]
        layer.index = layer.channel_sources()[keep].clone()
        layer.out_planes = len(keep)
        return layer

    def prune_in_channels(self, layer: PadShortcut, idxs: Sequence[int]) -> PadShortcut:
        drop = set(int(i) for i in idxs)
        keep = [i for i in range(layer.in_planes) if i not in drop]
        renumber = torch.full((layer.in_planes + 1,), len(keep), dtype=torch.long)  # pruned -> the zero channel
        renumber[keep] = torch.arange(len(keep))
        layer.index = renumber[layer.channel_sources()].clone()
        layer.in_planes = len(keep)
        return layer

    def get_out_channels(self, layer: PadShortcut) -> int:
        return layer.out_planes

    def get_in_channels(self, layer: PadShortcut) -> int:
        return layer.in_planes
