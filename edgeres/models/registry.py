"""Architecture names -> specs, and building an nn.Module from a spec."""

from __future__ import annotations

import re

from torch import nn

from ..errors import ArchitectureError
from .names import CIFAR_STEM_SUFFIX, CIFAR_WIDTHS, STAGE_WIDTHS, TORCHVISION_ARCHS
from .spec import ArchSpec

_CIFAR_NAME = re.compile(r"^(?:cifar_)?resnet(\d+)(_b)?$")


def known_names() -> list[str]:
    """Names accepted by --arch (CIFAR depths are any 6n+2)."""
    cifar = [f"cifar_resnet{d}" for d in (20, 32, 44, 56, 110)]
    return list(TORCHVISION_ARCHS) + cifar + [c + "_b" for c in cifar]


def spec_from_name(name: str, num_classes: int) -> ArchSpec:
    """Spec for an --arch name. Raises ArchitectureError listing known names when unknown."""
    key = name.strip().lower()
    stem = "imagenet"
    if key.endswith(CIFAR_STEM_SUFFIX):
        key, stem = key[: -len(CIFAR_STEM_SUFFIX)], "cifar"
    if key in TORCHVISION_ARCHS and not name.lower().startswith("cifar_"):
        block, layers, groups, wpg = TORCHVISION_ARCHS[key]
        return ArchSpec("torchvision", block, layers, num_classes, (), "B", groups, wpg, stem)
    match = _CIFAR_NAME.match(key)
    if match and stem == "imagenet":
        depth = int(match.group(1))
        if depth >= 8 and (depth - 2) % 6 == 0:
            n = (depth - 2) // 6
            shortcut = "B" if match.group(2) else "A"
            return ArchSpec("cifar", "basic", (n, n, n), num_classes, CIFAR_WIDTHS, shortcut)
    raise ArchitectureError(
        f"unknown architecture {name!r}; known: {', '.join(known_names())} "
        "(CIFAR depths: any 6n+2; add _b for 1x1 projection shortcuts, _cifarstem for a 3x3 stem)"
    )


def torchvision_builds(spec: ArchSpec) -> bool:
    """Whether torchvision's own ResNet has this structure (timm's switches and free widths need ours)."""
    return (
        spec.family == "torchvision"
        and len(spec.layers) == 4
        and spec.stem in ("imagenet", "cifar")
        and spec.widths in ((), STAGE_WIDTHS)
        and (spec.stem_width, spec.stem_pool, spec.downsample, spec.attention) == (64, "max", "conv", "")
        and (spec.first_stride, spec.stride_in_1x1) == (1, False)
    )


def build_model(spec: ArchSpec) -> nn.Module:
    """Instantiate an untrained model for `spec`, pruned widths included."""
    if spec.channels:
        from .channels import apply_channels

        return apply_channels(build_model(spec.replace(channels=())), spec.channels)
    if spec.family == "cifar":
        from .cifar_resnet import CifarResNet

        return CifarResNet(spec)
    if spec.family == "preact":
        from .preact_resnet import PreActResNet

        return PreActResNet(spec)
    if not torchvision_builds(spec):
        from .resnet import ResNet as VariantResNet

        return VariantResNet(spec)
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

    block = BasicBlock if spec.block == "basic" else Bottleneck
    if spec.block == "basic" and (spec.groups != 1 or spec.width_per_group != 64):
        raise ArchitectureError("torchvision basic blocks support only groups=1 and width_per_group=64")
    model: nn.Module = ResNet(
        block,
        list(spec.layers),
        num_classes=spec.num_classes,
        groups=spec.groups,
        width_per_group=spec.width_per_group,
    )
    if spec.stem == "cifar":
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model
