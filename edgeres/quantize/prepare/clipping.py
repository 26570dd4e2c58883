"""Per-channel weight clipping chosen by the layer's output error.

A channel's scale is max|w| / qmax, so one outlier weight coarsens the grid for every other weight of that
channel; the portable x86 recipe's 7-bit weights feel this most. Clamping a channel's float weights to a
smaller magnitude gives the engine a finer scale at the cost of the clamped outliers. The magnitude is
chosen per output channel, among fractions of max|w|, by the squared error of that channel's output on
calibration images: output channels do not interact, so one pass per fraction chooses them all.
"""

from __future__ import annotations

import torch

from .adaround import Quantized, layer_forward
from .grid import Grid

FRACTIONS = tuple(1.0 - 0.025 * step for step in range(17))  # 1.0 down to 0.6 of max|w|
IMAGES = 256  # calibration images the error is measured on


@torch.no_grad()
def clip_weights(module: Quantized, grid: Grid, x: torch.Tensor, target: torch.Tensor) -> int:
    """Clamp each output channel of `module.weight` where that lowers its output error after rounding to
    nearest; returns how many channels were clamped."""
    weight = module.weight
    absmax = weight.abs().flatten(1).amax(1)
    shape = (-1, *([1] * (weight.dim() - 1)))
    x, target = x[:IMAGES], target[:IMAGES]
    dims = [d for d in range(target.dim()) if d != 1]
    best_error = torch.full_like(absmax, float("inf"))
    best = torch.ones_like(absmax)
    for fraction in FRACTIONS:
        clip = (absmax * fraction).view(shape)
        rounded = grid.fake_quant_weight(torch.maximum(torch.minimum(weight, clip), -clip))
        error = (layer_forward(module, x, rounded, module.bias) - target).pow(2).mean(dim=dims)
        better = error < best_error
        best_error = torch.where(better, error, best_error)
        best = torch.where(better, torch.full_like(best, fraction), best)
    clip = (absmax * best).view(shape)
    weight.copy_(torch.maximum(torch.minimum(weight, clip), -clip))
    return int((best < 1.0).sum())
