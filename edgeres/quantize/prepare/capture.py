"""Layer inputs and outputs of a model on calibration images, with activations simulated on the int8 grid."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .grid import Grid

QUANTIZED = (nn.Conv2d, nn.Linear)
BATCH = 64
CAPTURE_BYTES = 768 * 2**20  # per captured tensor: at 224x224 a stage-1 input holds ~3 MB per image


class _Stop(Exception):
    """Ends a forward pass once the wanted layer has run."""


def quantized_layers(model: nn.Module, sample: torch.Tensor) -> list[str]:
    """Conv and Linear layers in the order the forward pass runs them."""
    order: list[str] = []
    hooks = [
        module.register_forward_pre_hook(lambda _m, _a, name=name: order.append(name) if name not in order else None)
        for name, module in model.named_modules()
        if isinstance(module, QUANTIZED)
    ]
    try:
        with torch.no_grad():
            model(sample[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return order


def input_ranges(model: nn.Module, inputs: torch.Tensor, layers: list[str]) -> dict[str, tuple[float, float]]:
    """Min and max of each layer's float input over the calibration images."""
    ranges: dict[str, tuple[float, float]] = {}

    def record(name: str, x: torch.Tensor) -> None:
        lo, hi = float(x.min()), float(x.max())
        old = ranges.get(name, (lo, hi))
        ranges[name] = (min(old[0], lo), max(old[1], hi))

    hooks = [
        model.get_submodule(name).register_forward_pre_hook(lambda _m, args, name=name: record(name, args[0]))
        for name in layers
    ]
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), BATCH):
                model(inputs[start : start + BATCH])
    finally:
        for hook in hooks:
            hook.remove()
    return ranges


@contextlib.contextmanager
def simulated_activations(model: nn.Module, grid: Grid, ranges: dict[str, tuple[float, float]]) -> Iterator[None]:
    """Within the block, every quantized layer's input passes through the activation grid first."""
    hooks = [
        model.get_submodule(name).register_forward_pre_hook(
            lambda _m, args, lo=lo, hi=hi: (grid.fake_quant_activation(args[0], lo, hi), *args[1:])
        )
        for name, (lo, hi) in ranges.items()
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def capture_count(model: nn.Module, name: str, sample: torch.Tensor, limit: int) -> int:
    """How many images' inputs and outputs of `name` fit the capture budget."""
    shapes: list[int] = []
    module = model.get_submodule(name)
    hook = module.register_forward_hook(lambda _m, args, out: shapes.extend([args[0][0].numel(), out[0].numel()]))
    try:
        with torch.no_grad():
            model(sample[:1])
    finally:
        hook.remove()
    return max(1, min(limit, CAPTURE_BYTES // (4 * max(shapes))))


def layer_io(model: nn.Module, name: str, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Input and output of layer `name` for every image (each forward pass stops at that layer)."""
    module = model.get_submodule(name)
    got: list[tuple[torch.Tensor, torch.Tensor]] = []

    def keep(_m: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        got.append((args[0].detach(), out.detach()))
        raise _Stop

    hook = module.register_forward_hook(keep)
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), BATCH):
                with contextlib.suppress(_Stop):
                    model(inputs[start : start + BATCH])
    finally:
        hook.remove()
    return torch.cat([x for x, _ in got]), torch.cat([y for _, y in got])
