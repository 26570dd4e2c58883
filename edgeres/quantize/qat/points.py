"""Where, in a PyTorch model torch.fx cannot trace, each tensor an engine quantizes is computed.

An int8 engine quantizes tensors of its own graph (a conv's output, the input of a residual add, a pooled
vector); QAT must round the same tensors in the PyTorch model. A traced model has a node for each
(graph.py); otherwise the place is a module boundary: a module's input or output at one of its calls (a ReLU
module called twice in a block has two), which holds most of them (not a sum a functional ReLU consumes).
Either way they are found by value: run the float file and the model on the same images, and each engine
tensor is the place that holds the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

RTOL = 1e-3  # float file and PyTorch model compute the same values to ~1e-6 relative


@dataclass(frozen=True, order=True)
class Point:
    """A module's input or output at its `call`-th call in one forward pass ("" is the whole model)."""

    module: str
    call: int
    side: str  # "in" or "out"

    def describe(self) -> str:
        return f"{self.side}put of {self.module or 'the model'}" + (f" (call {self.call + 1})" if self.call else "")


def module_boundaries(model: nn.Module, x: torch.Tensor) -> dict[Point, torch.Tensor]:
    """Every module's first input and its output, at every call, for the images `x`."""
    found: dict[Point, torch.Tensor] = {}
    calls: dict[str, int] = {}
    hooks = []

    def before(name: str) -> object:
        def hook(_module: nn.Module, args: tuple[object, ...]) -> None:
            call = calls[name] = calls.get(name, -1) + 1
            if args and isinstance(args[0], torch.Tensor):
                found[Point(name, call, "in")] = args[0].detach().clone()  # in-place ops change it later

        return hook

    def after(name: str) -> object:
        def hook(_module: nn.Module, _args: tuple[object, ...], out: object) -> None:
            if isinstance(out, torch.Tensor):
                found[Point(name, calls[name], "out")] = out.detach().clone()

        return hook

    for name, module in model.named_modules():
        hooks += [module.register_forward_pre_hook(before(name)), module.register_forward_hook(after(name))]  # type: ignore[arg-type]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return found


def same_values(a: torch.Tensor, b: np.ndarray) -> bool:
    """Whether the model's tensor `a` and the float file's `b` hold the same values (to float rounding), `b`
    in the model's layout or channels last (a TFLite graph's inside)."""
    if tuple(a.shape) != b.shape:
        if b.ndim != 4 or tuple(a.shape) != (b.shape[0], b.shape[3], b.shape[1], b.shape[2]):
            return False
        b = b.transpose(0, 3, 1, 2)
    elif b.ndim == 4 and b.shape[1] == b.shape[2] == b.shape[3] and not _close(a, b):
        b = b.transpose(0, 3, 1, 2)  # C == H == W: channels last has the model's shape
    return _close(a, b)


def _close(a: torch.Tensor, b: np.ndarray) -> bool:
    scale = float(np.abs(b).max()) if b.size else 0.0
    return bool(np.allclose(a.numpy(), b, rtol=RTOL, atol=RTOL * scale + 1e-6))


def _preference(point: Point) -> tuple[int, int, Point]:
    """Outputs first, the innermost module's (its producer: rounding there reaches every consumer); then inputs,
    the outermost module's (a tensor made by a function reaches the most consumers through it)."""
    depth = point.module.count(".") + (1 if point.module else 0)
    return (0, -depth, point) if point.side == "out" else (1, depth, point)


def match(values: dict[str, np.ndarray], boundaries: dict[Point, torch.Tensor]) -> dict[str, Point | None]:
    """For each engine tensor (name -> its float values), the module boundary holding the same values (see
    _preference); None where no boundary does."""
    ordered = sorted(boundaries, key=_preference)
    found: dict[str, Point | None] = {}
    for name, value in values.items():
        found[name] = next((p for p in ordered if same_values(boundaries[p], value)), None)
    return found
