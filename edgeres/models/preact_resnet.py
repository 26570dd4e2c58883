"""Pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual Networks") with the parameter
names of kuangliu/pytorch-cifar, the most used public definition (PreActResNet18/34/50/101/152).

Blocks normalize and activate first (BN-ReLU-conv); a projection shortcut is a bare 1x1 conv fed by the
block's first activation; the stem is one 3x3 conv with no norm, and no norm follows the last block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .names import STAGE_WIDTHS
from .spec import ArchSpec


class PreActBlock(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int, bottleneck: bool) -> None:
        super().__init__()
        cout = planes * (4 if bottleneck else 1)
        self.bottleneck = bottleneck
        self.bn1 = nn.BatchNorm2d(cin)
        if bottleneck:
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv2(F.relu(self.bn2(self.conv1(out))))
        if self.bottleneck:
            out = self.conv3(F.relu(self.bn3(out)))
        return out + shortcut  # type: ignore[no-any-return]


class PreActResNet(nn.Module):
    """3x3 stem conv, stages `layer1`..`layerN` of pre-activation blocks, global average pool, `linear`."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        bottleneck = spec.block == "bottleneck"
        self.conv1 = nn.Conv2d(3, spec.stem_width, 3, 1, 1, bias=False)
        widths = spec.widths or STAGE_WIDTHS[: len(spec.layers)]
        cin = spec.stem_width
        for stage, (blocks, planes) in enumerate(zip(spec.layers, widths, strict=True)):
            stride = 1 if stage == 0 else 2
            modules = []
            for index in range(blocks):
                modules.append(PreActBlock(cin, planes, stride if index == 0 else 1, bottleneck))
                cin = planes * (4 if bottleneck else 1)
            self.add_module(f"layer{stage + 1}", nn.Sequential(*modules))
        self.num_stages = len(spec.layers)
        self.linear = nn.Linear(cin, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        for stage in range(self.num_stages):
            out = getattr(self, f"layer{stage + 1}")(out)
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))  # type: ignore[no-any-return]
