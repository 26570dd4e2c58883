"""The architecture names edgeres knows, as data (torch-free): torchvision's and timm's ResNets, He et al.'s CIFAR
ones."""

from __future__ import annotations

# name -> (block, layers, groups, width_per_group), as torchvision defines them.
TORCHVISION_ARCHS: dict[str, tuple[str, tuple[int, ...], int, int]] = {
    "resnet18": ("basic", (2, 2, 2, 2), 1, 64),
    "resnet34": ("basic", (3, 4, 6, 3), 1, 64),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 1, 64),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 1, 64),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 1, 64),
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), 1, 128),
    "wide_resnet101_2": ("bottleneck", (3, 4, 23, 3), 1, 128),
    "resnext50_32x4d": ("bottleneck", (3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": ("bottleneck", (3, 4, 23, 3), 32, 8),
    "resnext101_64x4d": ("bottleneck", (3, 4, 23, 3), 64, 4),
}
# timm's further depths (its resnet10t, resnet14t, resnet26, resnet200 and their d/t variants).
TIMM_ARCHS: dict[str, tuple[str, tuple[int, ...], int, int]] = {
    "resnet10": ("basic", (1, 1, 1, 1), 1, 64),
    "resnet14": ("bottleneck", (1, 1, 1, 1), 1, 64),
    "resnet26": ("bottleneck", (2, 2, 2, 2), 1, 64),
    "resnet200": ("bottleneck", (3, 24, 36, 3), 1, 64),
    "resnext26_32x4d": ("bottleneck", (2, 2, 2, 2), 32, 4),
}
STAGE_WIDTHS = (64, 128, 256, 512)  # torchvision's stage widths ("planes")
CIFAR_WIDTHS = (16, 32, 64)
CIFAR_STEM_SUFFIX = "_cifarstem"
