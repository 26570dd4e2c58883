"""Quantizable layers named by their PyTorch module path, whichever format they live in.

Every converter keeps the module path somewhere (each int8 engine reads it from its own format: node
metadata, tensor names, the program's module stack). Users pass these names to --exclude and read them in
sensitivity tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import RecipeError

# Batch norms are folded into the preceding conv, so a fused node carries the BN's scope: `bnK` follows `convK`,
# and a norm at index N of a Sequential (timm's deep stem `conv1.1`, a projection's `downsample.1`, or `.2`
# after an average pool) follows the conv at N-1.
_BN_TO_CONV = ((re.compile(r"(^|\.)bn(\d+)$"), r"\1conv\2"), (re.compile(r"\.(downsample|shortcut)\.1$"), r".\1.0"))
_NORM_BN = re.compile(r"(^|\.)bn(\d+)$")
_NORM_INDEX = re.compile(r"^(.+)\.(\d+)$")


@dataclass(frozen=True)
class Layer:
    name: str  # module path, e.g. layer1.0.conv1 or layer2.1 for a residual add
    op: str  # the format's op type (Conv, Add, CONV_2D, ADD, ...)
    key: str  # what the engine calls it (a node or output tensor name of the format)


def conv_name(path: str, module_class: str | None = None) -> str:
    """The module path of the conv a fused batch norm belongs to (a conv's own path is unchanged).

    `module_class`, the class of the module at `path` where the format records it, tells a norm from a conv
    (timm's average-pool projection has its conv at `downsample.1`, where other ResNets have their norm);
    without it the torchvision and CIFAR names are assumed.
    """
    if module_class is None:
        for pattern, replacement in _BN_TO_CONV:
            path = pattern.sub(replacement, path)
        return path
    if "Norm" not in module_class.rsplit(".", 1)[-1]:
        return path
    if _NORM_BN.search(path):
        return _NORM_BN.sub(r"\1conv\2", path)
    match = _NORM_INDEX.match(path)
    if match and int(match.group(2)) > 0:
        return f"{match.group(1)}.{int(match.group(2)) - 1}"
    return path


def select(layers: Iterable[Layer], patterns: Iterable[str]) -> list[Layer]:
    """Layers whose name equals or starts with a pattern (`layer1.0` selects the whole block), or whose key
    equals it. Raises RecipeError for a pattern that selects nothing."""
    layers = list(layers)
    chosen: list[Layer] = []
    for pattern in patterns:
        found = [x for x in layers if x.key == pattern or x.name == pattern or x.name.startswith(pattern + ".")]
        if not found:
            sample = ", ".join(sorted({x.name for x in layers})[:8])
            raise RecipeError(f"--exclude {pattern}: no such layer; layers are named like {sample}, ...")
        chosen += [x for x in found if x not in chosen]
    return chosen
