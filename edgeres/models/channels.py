"""The channel counts of a (pruned) ResNet as data, and rebuilding a model with them.

Structured pruning leaves every layer of the standard architecture in place, only narrower. Recording each
layer's (out, in) channels lets a pruned model rebuild from its spec with no pickled module, and the
strict state_dict load that follows checks every shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from ..errors import ArchitectureError
from .cifar_resnet import PadShortcut
from .resnet import EfficientChannelAttention

Channels = tuple[tuple[str, int, int], ...]


def channels_of(model: nn.Module) -> Channels:
    """(path, out, in) for every conv, batch norm, linear layer, ECA gate and pruned option A shortcut of `model`. A
    shortcut that pruning left alone has no channel map and rebuilds as the standard one (listing it made the
    rebuilt model expect a map that the saved weights do not have: `--keep-residual-width` files, and resnet32
    pruned for latency, did not load)."""
    found = []
    for path, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            found.append((path, module.out_channels, module.in_channels))
        elif isinstance(module, nn.BatchNorm2d):
            found.append((path, module.num_features, module.num_features))
        elif isinstance(module, nn.Linear):
            found.append((path, module.out_features, module.in_features))
        elif isinstance(module, PadShortcut) and module.index is not None:
            found.append((path, module.out_planes, module.in_planes))
        elif isinstance(module, EfficientChannelAttention):  # its channel count lives outside its weights
            found.append((path, module.channels, module.channels))
    return tuple(found)


def apply_channels(model: nn.Module, channels: Iterable[tuple[str, int, int]]) -> nn.Module:
    """Replace each listed layer of a standard-width `model` by an untrained one of the given channels."""
    modules = dict(model.named_modules())
    for path, out, in_ in channels:
        if path not in modules:
            raise ArchitectureError(f"pruned spec names layer {path!r}, which the architecture does not have")
        parent_path, _, name = path.rpartition(".")
        setattr(modules[parent_path] if parent_path else model, name, _resized(modules[path], out, in_, path))
    return model


def _resized(module: nn.Module, out: int, in_: int, path: str) -> nn.Module:
    if isinstance(module, nn.Conv2d):
        if in_ % module.groups or out % module.groups:
            raise ArchitectureError(f"pruned spec: {path} has {in_}->{out} channels, not divisible by its groups")
        return nn.Conv2d(
            in_,
            out,
            module.kernel_size,  # type: ignore[arg-type]
            module.stride,  # type: ignore[arg-type]
            module.padding,  # type: ignore[arg-type]
            module.dilation,  # type: ignore[arg-type]
            module.groups,
            bias=module.bias is not None,
        )
    if isinstance(module, nn.BatchNorm2d):
        return nn.BatchNorm2d(out, module.eps, module.momentum)
    if isinstance(module, nn.Linear):
        return nn.Linear(in_, out, bias=module.bias is not None)
    if isinstance(module, EfficientChannelAttention):
        return EfficientChannelAttention(out, module.conv.kernel_size[0])
    if isinstance(module, PadShortcut):  # the channel map arrives with the state_dict
        return PadShortcut(in_, out, module.stride, index=torch.full((out,), in_, dtype=torch.long))
    raise ArchitectureError(f"pruned spec names {path!r}, a {type(module).__name__}, which has no channels to set")


def channels_in_state_dict(model: nn.Module, sd: Mapping[str, torch.Tensor]) -> Channels | None:
    """The (path, out, in) table that `sd`'s shapes imply for `model`'s layers, or None where they match.

    This is how a state_dict pruned by another tool (same layer names, fewer channels) gets a spec. Layers
    whose weights are absent keep the model's shape, so the strict load still reports what is missing.
    """
    found, differs = [], False
    for path, out, in_ in channels_of(model):
        module = model.get_submodule(path)
        weight = sd.get(f"{path}.weight")
        if weight is None or isinstance(module, (PadShortcut, EfficientChannelAttention)):
            found.append((path, out, in_))
            continue
        shape = tuple(weight.shape)
        if isinstance(module, nn.Conv2d) and len(shape) == 4:
            new = (path, shape[0], shape[1] * module.groups)
        elif isinstance(module, nn.Linear) and len(shape) == 2:
            new = (path, shape[0], shape[1])
        elif isinstance(module, nn.BatchNorm2d) and len(shape) == 1:
            new = (path, shape[0], shape[0])
        else:
            return None
        differs = differs or new != (path, out, in_)
        found.append(new)
    return tuple(found) if differs else None
