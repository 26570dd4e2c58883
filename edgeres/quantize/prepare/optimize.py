"""`--optimize`: which preparation techniques run before export, and running them on a PyTorch model.

Levels, chosen by measurement (docs/benchmarks.md): `none` is the engine's plain recipe; `fast` adds
batch-norm folding, cross-layer equalization, per-channel weight clipping, empirical bias correction and
per-tensor activation range search (seconds, no latency cost); `best` adds AdaRound learned rounding and
wider first/last layers where they measure better (minutes on 2 CPU cores for resnet18; the wider layers
cost onnxruntime latency: resnet18_cifar10 at batch 1 ran 0.75 ms against 0.59 ms).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..check import sqnr_db
from ..recipes import Recipe
from .adaround import AdaRoundOptions, adaround_layer, layer_forward
from .bias_correction import correct_bias
from .capture import capture_count, input_ranges, layer_io, quantized_layers, simulated_activations
from .clipping import clip_weights
from .equalize import equalizable_pairs, equalize
from .fold import fold_batch_norms
from .grid import Grid

LEVELS = ("none", "fast", "best")
DEFAULT_LEVEL = "fast"
BEST_ITERATIONS = 1000


@dataclass(frozen=True)
class Techniques:
    """What preparation does; each can be switched on alone (the benchmark's columns)."""

    equalize: bool = False
    bias_correction: bool = False
    adaround_iterations: int = 0  # 0: round to nearest (the engine's own rounding)
    range_search: bool = False  # per-tensor activation ranges by MSE or the engine's method, chosen by measurement
    mixed_precision: bool = False  # first and last layers wider (16-bit activations or float) where it measures better
    weight_clipping: bool = False  # per-channel weight magnitude chosen by output error (clipping.py)

    @property
    def touches_model(self) -> bool:
        return self.equalize or self.bias_correction or self.adaround_iterations > 0 or self.weight_clipping

    @classmethod
    def level(cls, name: str) -> Techniques:
        if name == "none":
            return cls()
        if name == "fast":
            return cls(equalize=True, bias_correction=True, range_search=True, weight_clipping=True)
        if name == "best":
            return cls(True, True, BEST_ITERATIONS, True, True, weight_clipping=True)
        raise ValueError(f"unknown optimize level {name!r}")


@dataclass
class LayerResult:
    name: str
    sqnr_before_db: float  # round-to-nearest weights, simulated int8 input
    sqnr_after_db: float
    clipped_channels: int = 0


@dataclass
class PrepareReport:
    techniques: Techniques
    folded: list[str] = field(default_factory=list)
    equalized: list[tuple[str, str]] = field(default_factory=list)
    layers: list[LayerResult] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "equalized": [list(pair) for pair in self.equalized]}


def prepare_model(
    model: nn.Module,
    recipe: Recipe,
    inputs: np.ndarray,
    techniques: Techniques,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> tuple[nn.Module, PrepareReport]:
    """A copy of `model` whose weights the recipe's engine quantizes with less error; float outputs change
    only by bias correction and rounding. Raises PrepareError when the model cannot be traced."""
    start = time.perf_counter()
    prepared = copy.deepcopy(model).eval()
    report = PrepareReport(techniques)
    with torch.no_grad():
        report.folded = fold_batch_norms(prepared)
        if techniques.equalize:
            report.equalized = equalizable_pairs(prepared)
            equalize(prepared, report.equalized)
    if techniques.bias_correction or techniques.adaround_iterations or techniques.weight_clipping:
        report.layers = _per_layer(prepared, Grid.of(recipe), torch.from_numpy(inputs), techniques, progress)
    report.seconds = time.perf_counter() - start
    return prepared, report


def _per_layer(
    model: nn.Module, grid: Grid, inputs: torch.Tensor, techniques: Techniques, progress: Callable[[int, int], None]
) -> list[LayerResult]:
    """Round and correct each layer in execution order, each seeing its predecessors' final state."""
    reference = copy.deepcopy(model)
    layers = quantized_layers(model, inputs)
    ranges = input_ranges(reference, inputs, layers)
    results = []
    for index, name in enumerate(layers):
        progress(index, len(layers))
        count = capture_count(model, name, inputs, len(inputs))
        _, target = layer_io(reference, name, inputs[:count])
        with simulated_activations(model, grid, ranges):
            x, _ = layer_io(model, name, inputs[:count])
        module = model.get_submodule(name)
        assert isinstance(module, (nn.Conv2d, nn.Linear)), "quantized_layers lists only these"
        nearest = grid.fake_quant_weight(module.weight.detach())
        before = _sqnr(target, layer_forward(module, x, nearest, module.bias))
        clipped = clip_weights(module, grid, x, target) if techniques.weight_clipping else 0
        weight = grid.fake_quant_weight(module.weight.detach())
        if techniques.adaround_iterations:
            options = AdaRoundOptions(techniques.adaround_iterations)
            weight = adaround_layer(module, grid, x, target, options, seed=index) * grid.weight_scale(module.weight)
            with torch.no_grad():
                module.weight.copy_(weight)
        if techniques.bias_correction:
            correct_bias(module, weight, x, target)
        after = _sqnr(target, layer_forward(module, x, weight, module.bias))
        results.append(LayerResult(name, before, after, clipped))
    progress(len(layers), len(layers))
    return results


def _sqnr(reference: torch.Tensor, approx: torch.Tensor) -> float:
    with torch.no_grad():
        return round(sqnr_db(reference.numpy(), approx.detach().numpy()), 2)
