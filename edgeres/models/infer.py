"""Infer a ResNet's ArchSpec from the keys and shapes of its state_dict (renamed onto edgeres' names)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import ArchitectureError
from .layouts import native
from .layouts.layout import Layout, stage_blocks
from .layouts.other_archs import recognize
from .names import STAGE_WIDTHS
from .spec import ArchSpec

StateDict = Mapping[str, torch.Tensor]
SUPPORTED = (
    "edgeres takes ResNets from torchvision, timm (resnet*, resnet*d/t, seresnet*, ecaresnet*, resnext*), "
    "Hugging Face transformers (ResNetForImageClassification), He et al.'s CIFAR ResNets and the torch.hub "
    "CIFAR zoo, and pre-activation ResNets"
)


def _not_resnet(sd: StateDict, origin: str) -> str:
    """Why these weights are no ResNet, and the fix: --key when a ResNet sits under a prefix, else what is supported."""
    sample = ", ".join(list(sd)[:3])
    prefixes = [k[: -len("layer1.0.conv1.weight")] for k in sd if k.endswith(".layer1.0.conv1.weight")]
    if prefixes:
        key = prefixes[0].rstrip(".")
        return f"{origin}: the ResNet's weights sit under {key!r} (keys start {sample}); pass --key {key}"
    kind = recognize(sd)
    if kind is not None:
        return f"{origin}: these weights are {kind}: not a ResNet edgeres loads (keys start {sample}); {SUPPORTED}"
    return (
        f"{origin}: these weights are not a ResNet (no conv1 / layer1.0.conv1 weights; keys start {sample}); "
        + SUPPORTED
    )


def infer_spec(sd: StateDict, origin: str, layout: Layout = native.LAYOUT) -> ArchSpec:
    """Return the spec whose state_dict has these keys and shapes, in the family `layout` says (else chosen from
    the keys). Raises ArchitectureError when the keys fit no known family, or several (listing the candidates).
    """
    if not ({"conv1.weight", "conv1.0.weight"} & set(sd)) or "layer1.0.conv1.weight" not in sd:
        raise ArchitectureError(_not_resnet(sd, origin))
    _check_norms_and_head(sd, origin)
    layers = tuple(stage_blocks(sd))
    bottleneck = "layer1.0.conv3.weight" in sd
    if layout.family == "preact":
        return _preact_spec(sd, layers, bottleneck)
    if layout.family == "cifar":
        return _cifar_spec(sd, layers)
    if layout.family == "torchvision":
        return _torchvision_spec(sd, layers, bottleneck, layout.free_widths)
    candidates = []
    if "linear.weight" in sd and not bottleneck and len(layers) == 3:
        candidates.append(_cifar_spec(sd, layers))
    if "fc.weight" in sd and len(layers) == 4:
        candidates.append(_torchvision_spec(sd, layers, bottleneck, False))
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ArchitectureError(
            f"{origin}: {len(layers)} stages {list(layers)}, classifier "
            f"{'fc' if 'fc.weight' in sd else 'linear' if 'linear.weight' in sd else 'missing'}: "
            "fits no supported ResNet (torchvision/timm: 4 stages + fc; CIFAR: 3 stages + linear or fc); pass --arch"
        )
    names = ", ".join(c.name for c in candidates)
    raise ArchitectureError(f"{origin}: weights fit several architectures ({names}); pass --arch to choose")


def _check_norms_and_head(sd: StateDict, origin: str) -> None:
    norm = "layer1.0.bn1"
    if f"{norm}.weight" in sd and f"{norm}.running_mean" not in sd:
        raise ArchitectureError(
            f"{origin}: its norm layers keep no running statistics ({norm}.running_mean is missing): group norm or "
            "another batch-free norm, which edgeres does not build (it folds batch norms into convs for int8)"
        )
    if "fc.weight" not in sd and "linear.weight" not in sd:
        raise ArchitectureError(
            f"{origin}: a ResNet without its classifier (no fc or linear weights: a feature extractor, such as timm "
            "with num_classes=0); edgeres deploys classifiers: save the model with its head"
        )


def _cifar_spec(sd: StateDict, layers: tuple[int, ...]) -> ArchSpec:
    widths = tuple(int(sd[f"layer{i + 1}.0.conv2.weight"].shape[0]) for i in range(len(layers)))
    projection = any(".shortcut." in key for key in sd)
    num_classes = _classes(sd, "linear.weight")
    return ArchSpec("cifar", "basic", layers, num_classes, widths, "B" if projection else "A")


def _classes(sd: StateDict, key: str) -> int:
    return int(sd[key].shape[0]) if key in sd and sd[key].ndim == 2 else 0  # 0: ArchSpec refuses "no classifier"


def _stage_widths(sd: StateDict, layers: tuple[int, ...], bottleneck: bool) -> tuple[int, ...]:
    """Each stage's width ("planes"): its first block's output channels (a quarter of them for bottlenecks)."""
    last = "conv3" if bottleneck else "conv2"
    outputs = [int(sd[f"layer{i + 1}.0.{last}.weight"].shape[0]) for i in range(len(layers))]
    widths = tuple(out // 4 if bottleneck else out for out in outputs)
    return () if widths == STAGE_WIDTHS else widths


def _preact_spec(sd: StateDict, layers: tuple[int, ...], bottleneck: bool) -> ArchSpec:
    return ArchSpec(
        "preact",
        "bottleneck" if bottleneck else "basic",
        layers,
        _classes(sd, "linear.weight"),
        _stage_widths(sd, layers, bottleneck),
        stem="cifar",
        stem_width=int(sd["conv1.weight"].shape[0]),
    )


def _torchvision_spec(sd: StateDict, layers: tuple[int, ...], bottleneck: bool, free_widths: bool) -> ArchSpec:
    """torchvision's structure with timm's switches (read from which keys exist) and, where the source sets
    them (`free_widths`), stage and stem widths read from the shapes."""
    stem, stem_widths, stem_width = _stem(sd, free_widths)
    widths = _stage_widths(sd, layers, bottleneck) if free_widths else ()
    groups, width_per_group = _grouping(sd, bottleneck, widths, stem_width, free_widths)
    attention, sizes = _attention(sd, layers)
    return ArchSpec(
        "torchvision",
        "bottleneck" if bottleneck else "basic",
        layers,
        _classes(sd, "fc.weight"),
        widths,
        "B",
        groups,
        width_per_group,
        stem,
        stem_width=stem_width,
        stem_widths=stem_widths,
        stem_pool="conv" if "maxpool.0.weight" in sd else "max",
        downsample="avg" if any(k.endswith(".downsample.2.weight") for k in sd) else "conv",
        attention=attention,
        attention_sizes=sizes,
    )


def _stem(sd: StateDict, free_widths: bool) -> tuple[str, tuple[int, ...], int]:
    """(stem kind, inner widths of a deep stem, output width)."""
    if "conv1.0.weight" in sd:  # timm's deep stem: conv-bn-act, conv-bn-act, conv
        inner = (int(sd["conv1.0.weight"].shape[0]), int(sd["conv1.3.weight"].shape[0]))
        return "deep", inner, int(sd["conv1.6.weight"].shape[0])
    weight = sd["conv1.weight"]
    return "imagenet" if weight.shape[-1] == 7 else "cifar", (), int(weight.shape[0]) if free_widths else 64


def _grouping(
    sd: StateDict, bottleneck: bool, widths: tuple[int, ...], stem_width: int, free_widths: bool
) -> tuple[int, int]:
    """(groups, width_per_group) of bottleneck blocks, as torchvision defines them (ResNeXt, Wide ResNet)."""
    if not bottleneck:
        return 1, 64
    width = int(sd["layer1.0.conv1.weight"].shape[0])
    groups = width // int(sd["layer1.0.conv2.weight"].shape[1])
    stem_out = int(sd["conv1.weight" if "conv1.weight" in sd else "conv1.6.weight"].shape[0])
    if not free_widths and stem_out != stem_width and groups == 1:  # channel-pruned: widths come from the shapes
        return 1, 64
    planes = (widths or STAGE_WIDTHS)[0]
    return groups, width * 64 // (groups * planes)


def _attention(sd: StateDict, layers: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
    """timm's channel attention after each block: "se" (sizes: hidden widths) or "eca" (sizes: kernel sizes)."""
    stages = range(1, len(layers) + 1)
    if "layer1.0.se.fc1.weight" in sd:
        return "se", tuple(int(sd[f"layer{i}.0.se.fc1.weight"].shape[0]) for i in stages)
    if "layer1.0.se.conv.weight" in sd:
        return "eca", tuple(int(sd[f"layer{i}.0.se.conv.weight"].shape[-1]) for i in stages)
    return "", ()
