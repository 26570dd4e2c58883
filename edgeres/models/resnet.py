"""The ResNets torchvision cannot build: timm's stems, downsampling and attention, and free stage widths.

timm and Hugging Face transformers define their ResNets as torchvision's with a few switches, so one builder
with torchvision's (and timm's) parameter names holds them all: timm's state_dicts load as saved and Hugging
Face's after a key mapping. Plain specs are still built by torchvision itself (see `registry.build_model`).
Numerics follow timm's definitions (timm/models/resnet.py, timm/layers/squeeze_excite.py, eca.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .names import STAGE_WIDTHS
from .spec import ArchSpec


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al.): channel gates from the pooled features through a 1x1 bottleneck."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class EfficientChannelAttention(nn.Module):
    """ECA (Wang et al.): channel gates from a 1-D convolution across the pooled channels; no reduction."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.channels = channels  # not a parameter: the gates are as many as the input's channels
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean((2, 3)).unsqueeze(1)
        gate = torch.sigmoid(self.conv(pooled)).squeeze(1)
        return x * gate[:, :, None, None]


def _attention(spec: ArchSpec, stage: int, channels: int) -> nn.Module | None:
    if spec.attention == "se":
        return SqueezeExcite(channels, spec.attention_sizes[stage])
    if spec.attention == "eca":
        return EfficientChannelAttention(channels, spec.attention_sizes[stage])
    return None


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, spec: ArchSpec, stage: int, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv(cin, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = _attention(spec, stage, planes)
        self.downsample = _downsample(spec, cin, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _join(self, self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))), x)


class Bottleneck(nn.Module):
    def __init__(self, spec: ArchSpec, stage: int, cin: int, planes: int, stride: int) -> None:
        super().__init__()
        width = int(planes * spec.width_per_group / 64) * spec.groups
        cout = planes * 4
        stride1, stride3 = (stride, 1) if spec.stride_in_1x1 else (1, stride)
        self.conv1 = _conv(cin, width, 1, stride1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv(width, width, 3, stride3, spec.groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv(width, cout, 1)
        self.bn3 = nn.BatchNorm2d(cout)
        self.se = _attention(spec, stage, cout)
        self.downsample = _downsample(spec, cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return _join(self, self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out))))), x)


def _join(block: BasicBlock | Bottleneck, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A block's end: attention on its branch, then the residual addition (projected where it must be), ReLU."""
    if block.se is not None:
        out = block.se(out)
    return F.relu(out + (x if block.downsample is None else block.downsample(x)))


def _downsample(spec: ArchSpec, cin: int, cout: int, stride: int) -> nn.Sequential | None:
    """The projection shortcut where a block changes width or stride: 1x1 conv (ResNet-B) or, with
    `downsample` "avg", a 2x2 average pool first and a stride-1 conv (ResNet-D)."""
    if stride == 1 and cin == cout:
        return None
    if spec.downsample == "conv":
        return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    pool: nn.Module = nn.Identity()
    if stride > 1:
        pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
    return nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


def _stem(spec: ArchSpec) -> nn.Module:
    if spec.stem == "deep":
        inner1, inner2 = spec.stem_widths
        return nn.Sequential(
            _conv(3, inner1, 3, 2),
            nn.BatchNorm2d(inner1),
            nn.ReLU(),
            _conv(inner1, inner2, 3),
            nn.BatchNorm2d(inner2),
            nn.ReLU(),
            _conv(inner2, spec.stem_width, 3),
        )
    if spec.stem == "cifar":
        return _conv(3, spec.stem_width, 3)
    return _conv(3, spec.stem_width, 7, 2)


def _stem_pool(spec: ArchSpec) -> nn.Module:
    if spec.stem == "cifar":
        return nn.Identity()
    if spec.stem_pool == "conv":  # timm's replace_stem_pool (ResNet-RS)
        width = spec.stem_width
        return nn.Sequential(_conv(width, width, 3, 2), nn.BatchNorm2d(width), nn.ReLU())
    return nn.MaxPool2d(3, 2, 1)


class ResNet(nn.Module):
    """Stem, stages `layer1`..`layerN` of residual blocks, global average pool, `fc` classifier."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        block = BasicBlock if spec.block == "basic" else Bottleneck
        self.conv1 = _stem(spec)
        self.bn1 = nn.BatchNorm2d(spec.stem_width)
        self.maxpool = _stem_pool(spec)
        widths = spec.widths or STAGE_WIDTHS[: len(spec.layers)]
        cin = spec.stem_width
        for stage, (blocks, planes) in enumerate(zip(spec.layers, widths, strict=True)):
            stride = spec.first_stride if stage == 0 else 2
            modules = []
            for index in range(blocks):
                modules.append(block(spec, stage, cin, planes, stride if index == 0 else 1))
                cin = planes * (1 if spec.block == "basic" else 4)
            self.add_module(f"layer{stage + 1}", nn.Sequential(*modules))
        self.num_stages = len(spec.layers)
        self.fc = nn.Linear(cin, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for stage in range(self.num_stages):
            out = getattr(self, f"layer{stage + 1}")(out)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))  # type: ignore[no-any-return]
