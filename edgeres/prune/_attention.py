"""Teach torch-pruning efficient channel attention (ECA): a 1-D convolution across the pooled channels whose
one weight vector serves any channel count.

Traced op by op, the channel axis becomes the convolution's length axis and DepGraph cannot follow it: it
left every residual stream of an ECA ResNet unpruned. Registered as one layer, the module passes channels
through (its inputs and outputs are the same channels, pruned together) and has nothing of its own to cut.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch_pruning as tp

from ..models.resnet import EfficientChannelAttention


class EcaPruner(tp.pruner.BasePruningFunc):  # type: ignore[misc]
    TARGET_MODULES = EfficientChannelAttention

    def prune_out_channels(self, layer: EfficientChannelAttention, idxs: Sequence[int]) -> EfficientChannelAttention:
        layer.channels -= len(set(int(i) for i in idxs))
        return layer

    prune_in_channels = prune_out_channels  # one set of channels: torch-pruning couples them as a batch norm's

    def get_out_channels(self, layer: EfficientChannelAttention) -> int:
        return layer.channels

    def get_in_channels(self, layer: EfficientChannelAttention) -> int:
        return layer.channels
