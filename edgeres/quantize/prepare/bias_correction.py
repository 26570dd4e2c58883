"""Empirical bias correction (Nagel et al. 2019): remove the mean output shift that quantization adds.

Rounded weights and quantized inputs shift each output channel's mean; the next layers read that shift as
signal. Measured on calibration images, the shift per channel is subtracted from the layer's bias.
"""

from __future__ import annotations

import torch
from torch import nn

from .adaround import Quantized, layer_forward


@torch.no_grad()
def correct_bias(module: Quantized, weight: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> None:
    """Shift `module.bias` so that the layer with `weight` on `x` matches `target`'s per-channel mean."""
    bias = module.bias
    out = layer_forward(module, x, weight, bias)
    dims = [d for d in range(out.dim()) if d != 1]
    shift = (out - target).mean(dim=dims)
    if bias is None:
        module.bias = nn.Parameter(-shift)
    else:
        bias.sub_(shift)
