"""Whole residual blocks removed: the one cut that shortens every layer type's time, not only the convs'.

A block whose output has its input's shape (every block of a stage but the first, which changes stride and
width) computes x + f(x); removing it leaves x, a network one block shallower that rebuilds from its spec
(fewer blocks in that stage). Width pruning cannot make every stage faster on every target: measured on an
AVX2-only EPYC (onnxruntime 1.32, int8), resnet32's 16-channel stage got no faster at 8 channels, yet it is a
third of the int8 time; removing two of its five blocks saved 14% of the whole network's.

Which block goes is measured on images: the divergence (KL) of the network's predictions with that block
removed from the unpruned network's, a block at a time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..card import ModelCard
from ..models import LoadedModel
from ..models.channels import channels_of

MAX_DROP_FRACTION = 0.5  # at most this share of a stage's blocks is removed (and never its first block)


@dataclass(frozen=True)
class Block:
    """One residual block: its stage (the model's `layerN` sequence) and position there."""

    stage: str
    index: int

    @property
    def name(self) -> str:
        return f"{self.stage}.{self.index}"


def _stages(model: nn.Module) -> list[tuple[str, nn.Sequential]]:
    return [(n, m) for n, m in model.named_children() if n.startswith("layer") and isinstance(m, nn.Sequential)]


def droppable_blocks(loaded: LoadedModel) -> list[Block]:
    """Blocks that can go, found by their shapes on a forward pass: not first in their stage, output shaped as
    the input."""
    shapes: dict[str, bool] = {}
    hooks = []
    for stage, blocks in _stages(loaded.model):
        for index, block in enumerate(blocks):
            name = f"{stage}.{index}"
            hook = lambda _m, args, out, name=name: shapes.__setitem__(name, args[0].shape == out.shape)  # noqa: E731
            hooks.append(block.register_forward_hook(hook))
    try:
        with torch.no_grad():
            loaded.model.eval()(torch.zeros(1, 3, *loaded.card.input_size))
    finally:
        for handle in hooks:
            handle.remove()
    return [
        Block(stage, index)
        for stage, blocks in _stages(loaded.model)
        for index in range(1, len(blocks))
        if shapes.get(f"{stage}.{index}", False)
    ]


def most_per_stage(loaded: LoadedModel) -> dict[str, int]:
    """{stage: how many of its blocks may be removed}."""
    return {stage: int(len(blocks) * MAX_DROP_FRACTION) for stage, blocks in _stages(loaded.model)}


def drop_blocks(loaded: LoadedModel, blocks: list[Block]) -> LoadedModel:
    """A copy of `loaded` without `blocks`; its spec has the fewer blocks per stage and rebuilds from data."""
    model = copy.deepcopy(loaded.model)
    for block in sorted(blocks, key=lambda b: b.index, reverse=True):
        del getattr(model, block.stage)[block.index]
    layers = tuple(len(blocks) for _, blocks in _stages(model))
    spec = loaded.spec.replace(layers=layers, channels=channels_of(model))
    return LoadedModel(model, loaded.card.replace(arch=spec.name), spec)


def normalised(images: np.ndarray, card: ModelCard) -> torch.Tensor:
    """N x H x W x 3 uint8 images as the model's normalised N x 3 x H x W input."""
    mean = torch.tensor(card.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(card.std).view(1, 3, 1, 1) * 255
    return (torch.from_numpy(images).permute(0, 3, 1, 2).float() - mean) / std


def block_sensitivity(loaded: LoadedModel, images: torch.Tensor, blocks: list[Block]) -> dict[str, float]:
    """{block name: KL divergence of the predictions without that block from the unpruned ones} on `images`."""
    model = copy.deepcopy(loaded.model).eval()
    out = {}
    with torch.no_grad():
        reference = F.log_softmax(model(images), 1)
        for block in blocks:
            stage = getattr(model, block.stage)
            kept = stage[block.index]
            stage[block.index] = nn.Identity()
            dropped = F.log_softmax(model(images), 1)
            stage[block.index] = kept
            out[block.name] = float(F.kl_div(dropped, reference, reduction="batchmean", log_target=True))
    return out
