"""Infer a ResNet's ArchSpec from the keys and shapes of its state_dict."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import ArchitectureError
from .spec import ArchSpec

StateDict = Mapping[str, torch.Tensor]


def _stage_blocks(sd: StateDict) -> list[int]:
    layers: list[int] = []
    while f"layer{len(layers) + 1}.0.conv1.weight" in sd:
        stage = len(layers) + 1
        count = 0
        while f"layer{stage}.{count}.conv1.weight" in sd:
            count += 1
        layers.append(count)
    return layers


def rename_cifar_layout(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the 4-stage `shortcut`/`linear` layout of popular CIFAR repos onto torchvision's names.

    Such models (e.g. "ResNet18 for CIFAR") are torchvision ResNets with a 3x3 stem; 3-stage models with
    `linear` are He et al.'s CIFAR ResNets and keep their names.
    """
    if "linear.weight" not in sd or "fc.weight" in sd or len(_stage_blocks(sd)) != 4:
        return sd
    renamed = {}
    for key, value in sd.items():
        key = key.replace(".shortcut.", ".downsample.")
        renamed["fc." + key[len("linear.") :] if key.startswith("linear.") else key] = value
    return renamed


def _not_resnet(sd: StateDict, origin: str) -> str:
    """Why these weights are no ResNet, and the fix: --key when a ResNet sits under a prefix, else what is supported."""
    sample = ", ".join(list(sd)[:3])
    prefixes = [k[: -len("layer1.0.conv1.weight")] for k in sd if k.endswith(".layer1.0.conv1.weight")]
    if prefixes:
        key = prefixes[0].rstrip(".")
        return f"{origin}: the ResNet's weights sit under {key!r} (keys start {sample}); pass --key {key}"
    return (
        f"{origin}: these weights are not a ResNet (no conv1.weight / layer1.0.conv1.weight; keys start {sample}); "
        "edgeres takes torchvision ResNets (resnet18 ... resnet152, resnext, wide_resnet) and CIFAR ResNets "
        "(cifar_resnet20 ... cifar_resnet110)"
    )


def infer_spec(sd: StateDict, origin: str) -> ArchSpec:
    """Return the spec whose state_dict has these keys and shapes.

    Raises ArchitectureError when the keys fit no known family, or several (listing the candidates).
    """
    if "conv1.weight" not in sd or "layer1.0.conv1.weight" not in sd:
        raise ArchitectureError(_not_resnet(sd, origin))
    layers = tuple(_stage_blocks(sd))
    bottleneck = "layer1.0.conv3.weight" in sd
    candidates = []
    if "linear.weight" in sd and not bottleneck and len(layers) == 3:
        candidates.append(_cifar_spec(sd, layers))
    if "fc.weight" in sd and len(layers) == 4:
        candidates.append(_torchvision_spec(sd, layers, bottleneck, origin))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ArchitectureError(
            f"{origin}: {len(layers)} stages {list(layers)}, classifier "
            f"{'fc' if 'fc.weight' in sd else 'linear' if 'linear.weight' in sd else 'missing'}: "
            "fits no supported ResNet (torchvision: 4 stages + fc; CIFAR: 3 stages + linear); pass --arch"
        )
    names = ", ".join(c.name for c in candidates)
    raise ArchitectureError(f"{origin}: weights fit several architectures ({names}); pass --arch to choose")


def _cifar_spec(sd: StateDict, layers: tuple[int, ...]) -> ArchSpec:
    widths = tuple(int(sd[f"layer{i + 1}.0.conv2.weight"].shape[0]) for i in range(len(layers)))
    projection = any(".shortcut." in key for key in sd)
    num_classes = int(sd["linear.weight"].shape[0])
    return ArchSpec("cifar", "basic", layers, num_classes, widths, "B" if projection else "A")


def _torchvision_spec(sd: StateDict, layers: tuple[int, ...], bottleneck: bool, origin: str) -> ArchSpec:
    stem_weight = sd["conv1.weight"]
    stem = "imagenet" if stem_weight.shape[-1] == 7 else "cifar"
    num_classes = int(sd["fc.weight"].shape[0])
    if not bottleneck:
        return ArchSpec("torchvision", "basic", layers, num_classes, (), "B", 1, 64, stem)
    width = int(sd["layer1.0.conv1.weight"].shape[0])
    groups = width // int(sd["layer1.0.conv2.weight"].shape[1])
    if stem_weight.shape[0] != 64 and groups == 1:  # channel-pruned: the loader reads widths from the shapes
        width = 64
    return ArchSpec("torchvision", "bottleneck", layers, num_classes, (), "B", groups, width // groups, stem)
