"""Quantizable layers named by their PyTorch module path, whichever format they live in.

Both converters keep the module path: ONNX nodes in `pkg.torch.onnx.name_scopes` metadata, TFLite
tensors in their names. Users pass these names to --exclude and read them in sensitivity tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .recipes import RecipeError

# Batch norms are folded into the preceding conv, so a fused node carries the BN's scope.
_BN_TO_CONV = ((re.compile(r"(^|\.)bn(\d+)$"), r"\1conv\2"), (re.compile(r"\.(downsample|shortcut)\.1$"), r".\1.0"))


@dataclass(frozen=True)
class Layer:
    name: str  # module path, e.g. layer1.0.conv1 or layer2.1 for a residual add
    op: str  # the format's op type (Conv, Add, CONV_2D, ADD, ...)
    key: str  # what the engine calls it (ONNX node name, TFLite output tensor name)


def conv_name(path: str) -> str:
    for pattern, replacement in _BN_TO_CONV:
        path = pattern.sub(replacement, path)
    return path


def from_onnx_scopes(scopes: Sequence[str], fallback: str) -> str:
    """The deepest `model.*` scope, without the `model.` of the export wrapper."""
    paths = [s for s in scopes if s == "model" or s.startswith("model.")]
    if not paths:
        return fallback
    return conv_name(paths[-1].removeprefix("model").removeprefix(".")) or fallback


def from_tflite_tensor(name: str, op: str) -> str:
    """`.../Sequential_layer1/BasicBlock_0/Conv2d_conv1;1` -> `layer1.0.conv1`; an ADD is named by its block."""
    if "/" not in name:
        return "classifier" if op == "FULLY_CONNECTED" else name  # renamed graph outputs keep no path
    parts_of_name = name.split(";;")
    last = (parts_of_name[0] if op == "ADD" else parts_of_name[-1]).split(";")[0]
    parts = [segment.rsplit("_", 1)[-1] for segment in last.split("/")[1:] if "_" in segment]
    return conv_name(".".join(parts).removeprefix("model").removeprefix(".")) or name


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
