"""CIFAR ResNets of He et al. 2015 §4.2 (depth 6n+2), parameter names as in the common public checkpoints.

Option A shortcuts keep every `stride`-th pixel and zero-pad the new channels, half before and half after
(a quarter of the new width each side when the width doubles). Option B uses a 1x1 conv + BN projection.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spec import ArchSpec


class PadShortcut(nn.Module):
    """Option A identity: spatial subsampling plus zero channel padding; has no parameters.

    After channel pruning the kept channels no longer sit in one padded block, so a pruned shortcut carries
    `index`: for each output channel, the input channel it copies, or `in_planes` for a zero channel.
    """

    index: torch.Tensor | None

    def __init__(self, in_planes: int, out_planes: int, stride: int, index: torch.Tensor | None = None) -> None:
        super().__init__()
        self.stride = stride
        self.in_planes, self.out_planes = in_planes, out_planes
        self.pad_front = (out_planes - in_planes) // 2
        self.pad_back = out_planes - in_planes - self.pad_front
        self.register_buffer("index", index)  # None: not in the state_dict, as in unpruned checkpoints

    def channel_sources(self) -> torch.Tensor:
        """The input channel each output channel copies (`in_planes` = zero), pruned or not."""
        if self.index is not None:
            return self.index
        sources = torch.full((self.out_planes,), self.in_planes, dtype=torch.long)
        sources[self.pad_front : self.pad_front + self.in_planes] = torch.arange(self.in_planes)
        return sources

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.index is None:
            return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))
        return torch.index_select(F.pad(x, (0, 0, 0, 0, 0, 1)), 1, self.index)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.shortcut = PadShortcut(in_planes, planes, stride)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """conv3x3 stem, three stages of basic blocks, global average pool, `linear` classifier."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        widths = spec.widths
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        for index, (blocks, width) in enumerate(zip(spec.layers, widths, strict=True)):
            stride = 1 if index == 0 else 2
            stage = []
            for block_index in range(blocks):
                stage.append(BasicBlock(in_planes, width, stride if block_index == 0 else 1, spec.shortcut))
                in_planes = width
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
        self.num_stages = len(spec.layers)
        self.linear = nn.Linear(in_planes, spec.num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        for index in range(self.num_stages):
            out = getattr(self, f"layer{index + 1}")(out)
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)  # type: ignore[no-any-return]
