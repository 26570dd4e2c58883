"""A PyTorch model that computes on its engine's int8 grid while it trains, and the on-grid model it leaves.

Weights: each quantized conv and linear layer's weight passes through the recipe's per-channel grid (scale
max|w| / qmax, as the engines derive it) on every forward pass; gradients pass straight through the rounding.
Biases (where the layer's input grid is known, `round_biases`): on the int32 grid of scale input scale x weight
scale that onnxruntime, ai-edge-quantizer and ExecuTorch's XNNPACK all use. That grid is fine (about 1/1000 of
an output step), but the roundings it moves flip a few outputs by one step, and those flips grow through the
layers: resnet20's simulation and its int8 file disagreed in top-1 on 0.4-0.9% of test images with float
biases, on 0.1-0.2% with int32 biases (each format; docs/benchmarks.md).
Activations are rounded by nodes of the model's traced graph (graph.py), with the engine's own scale and zero
point. When training ends the weights are left on the grid, so the engine, deriving its scales again, writes
exactly the integers the model trained with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from ..prepare.grid import Grid


@dataclass(frozen=True)
class ActivationGrid:
    """One quantized tensor's grid: value = (q - zero_point) * scale for integers q in [qmin, qmax]."""

    scale: float
    zero_point: int
    qmin: int
    qmax: int

    def fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, self.qmin, self.qmax)

    def observed_range(self) -> tuple[float, float]:
        """The range [lo, hi] from which a min-max calibration derives exactly this grid, computing in float32
        as the engines do: scale (hi - lo) / (qmax - qmin), zero point qmin - round(lo / scale)."""
        scale, levels = np.float32(self.scale), np.float32(self.qmax - self.qmin)
        lo, hi = np.float32((self.qmin - self.zero_point) * scale), np.float32((self.qmax - self.zero_point) * scale)
        for _ in range(16):  # a few ulps of hi make (hi - lo) / levels land on the scale
            got = (hi - lo) / levels
            if got == scale:
                break
            hi = np.nextafter(hi, np.float32(np.inf if got < scale else -np.inf))
        return float(lo), float(hi)


def kept_grid_source(
    grids: dict[str, ActivationGrid], name: str, op: str, first: str | None, passthrough: set[str]
) -> str | None:
    """`first` (the input of the op `op` that made tensor `name`) when that op only moves values and `name`
    keeps its grid: QAT rounds it where `first` is rounded. None otherwise. Every format's reader asks this."""
    if op not in passthrough or first is None:
        return None
    return first if grids.get(first) is not None and grids.get(first) == grids[name] else None


class _OnGrid(nn.Module):
    """A weight rounded to its grid in the forward pass; the gradient passes through unchanged."""

    def __init__(self, grid: Grid) -> None:
        super().__init__()
        self.grid = grid

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + (self.grid.fake_quant_weight(weight) - weight).detach()


class _BiasOnGrid(nn.Module):
    """A layer's bias on its int32 grid (scale: the input's scale x each output channel's weight scale); the
    gradient passes through unchanged. `input_scale` is read at each pass (a learned scale moves)."""

    def __init__(self, grid: Grid, layer: nn.Module, input_scale: Callable[[], torch.Tensor]) -> None:
        super().__init__()
        self.grid = grid
        self.layer = [layer]  # in a list: the layer is no submodule of its own parametrization
        self.input_scale = input_scale

    def _weight(self) -> torch.Tensor:
        weight = self.layer[0].weight
        assert isinstance(weight, torch.Tensor), "conv and linear layers have tensor weights"
        return weight

    def forward(self, bias: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            scale = self.input_scale().to(torch.float32) * self.grid.weight_scale(self._weight()).flatten()
            on_grid = torch.round(bias.double() / scale.double()).float() * scale
        return bias + (on_grid - bias).detach()


class Simulation:
    """Installs the weight and bias grids on `model` (in place) until `finish`, which leaves them on their grid."""

    def __init__(self, model: nn.Module, grid: Grid, float_layers: Iterable[str]) -> None:
        self.model = model
        kept = set(float_layers)
        self.layers = [
            name
            for name, module in model.named_modules()
            if isinstance(module, (nn.Conv2d, nn.Linear)) and name not in kept
        ]
        self.grid, self.biased = grid, list[str]()
        for name in self.layers:
            parametrize.register_parametrization(model.get_submodule(name), "weight", _OnGrid(grid))

    def round_biases(self, input_scales: dict[str, Callable[[], torch.Tensor]]) -> None:
        """Put the bias of each quantized layer named in `input_scales` (layer -> its input's current scale) on
        its int32 grid, where `finish` leaves it."""
        for name in self.layers:
            layer = self.model.get_submodule(name)
            if name in input_scales and getattr(layer, "bias", None) is not None:
                parametrize.register_parametrization(layer, "bias", _BiasOnGrid(self.grid, layer, input_scales[name]))
                self.biased.append(name)

    def finish(self) -> nn.Module:
        """Remove the grids; weights and biases stay rounded (what the engine will quantize to the same
        integers)."""
        for name in self.biased:  # before the weights: a bias's grid is read from its layer's weight
            parametrize.remove_parametrizations(self.model.get_submodule(name), "bias", leave_parametrized=True)
        for name in self.layers:
            parametrize.remove_parametrizations(self.model.get_submodule(name), "weight", leave_parametrized=True)
        return self.model
