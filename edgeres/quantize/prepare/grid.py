"""The integer grids a recipe's engine will use, so that PyTorch-side preparation aims at the same integers.

onnxruntime, ai-edge-quantizer and ExecuTorch's XNNPACKQuantizer all quantize weights per output channel,
symmetrically, with scale = max|w| / qmax: qmax 127 for full-range int8, 64 for onnxruntime's reduce_range
(the portable `x86` recipe). A weight already on that grid, with its channel's largest magnitude exactly at +-qmax, is
re-quantized by the engine to the same integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..recipes import Recipe


@dataclass(frozen=True)
class Grid:
    """Weight and activation grids of one recipe."""

    weight_qmax: int  # symmetric per-channel weights in [-qmax, qmax]
    symmetric_activations: bool  # int8 symmetric (ORT S8S8) rather than 256 asymmetric levels
    weight_min_scale: float = 0.0  # a channel's scale is at least this (PT2E observers' eps)

    @classmethod
    def of(cls, recipe: Recipe) -> Grid:
        return cls(recipe.weight_qmax, recipe.symmetric_activations, recipe.weight_min_scale)

    def weight_scale(self, weight: torch.Tensor) -> torch.Tensor:
        """Per-output-channel scale, shaped to broadcast over the weight; 1 for an all-zero channel."""
        absmax = weight.detach().abs().flatten(1).amax(1)
        scale = torch.where(absmax > 0, (absmax / self.weight_qmax).clamp_min(self.weight_min_scale), 1.0)
        return scale.view(-1, *([1] * (weight.dim() - 1)))

    def weight_integers(self, weight: torch.Tensor) -> torch.Tensor:
        """Round-to-nearest integers, what the engine computes for a weight not prepared by edgeres."""
        return torch.clamp(torch.round(weight / self.weight_scale(weight)), -self.weight_qmax, self.weight_qmax)

    def fake_quant_weight(self, weight: torch.Tensor) -> torch.Tensor:
        return self.weight_integers(weight) * self.weight_scale(weight)

    def fake_quant_activation(self, x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        """x on the activation grid that covers [lo, hi] (widened to include 0, as the engines do)."""
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo <= 0:
            return x
        if self.symmetric_activations:
            scale = max(-lo, hi) / 127
            return torch.clamp(torch.round(x / scale), -127, 127) * scale
        scale = (hi - lo) / 255
        zero = round(-lo / scale)
        return (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale
