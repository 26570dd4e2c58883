"""AdaRound (Nagel et al. 2020): learn, per weight, whether to round down or up, layer by layer.

Rounding to nearest minimizes each weight's own error, not the layer's output error. AdaRound optimizes a
soft rounding variable against the layer's float output on calibration images, with a regularizer that
anneals it to exactly 0 or 1. The scale is the engine's (max|w| / qmax per channel) and each channel's
largest weight stays at +-qmax, so the engine re-derives the same scale and reproduces these integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .grid import Grid

ZETA, GAMMA = 1.1, -0.1  # the rectified sigmoid's stretch, as in the paper


POSITIONS = 32 * 32 * 32  # output positions per step: 32 CIFAR images; fewer images of larger ones


@dataclass(frozen=True)
class AdaRoundOptions:
    iterations: int
    batch: int = 32  # images per step at most (see POSITIONS)
    regularization: float = 0.01
    learning_rate: float = 1e-2
    warmup: float = 0.2  # fraction of iterations with reconstruction loss only
    beta: tuple[float, float] = (20.0, 2.0)  # regularizer sharpness, annealed from first to second


Quantized = nn.Conv2d | nn.Linear


def layer_forward(module: Quantized, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`module` computed with other weights."""
    if isinstance(module, nn.Conv2d):
        out: torch.Tensor = module._conv_forward(x, weight, bias)
        return out
    return F.linear(x, weight, bias)


def _soft(v: torch.Tensor) -> torch.Tensor:
    return torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0, 1)


def adaround_layer(
    module: Quantized, grid: Grid, x: torch.Tensor, target: torch.Tensor, options: AdaRoundOptions, seed: int = 0
) -> torch.Tensor:
    """Integers for `module.weight` that reproduce `target` from `x` (the quantized model's input) best."""
    weight = module.weight.detach()
    bias = None if module.bias is None else module.bias.detach()
    scale = grid.weight_scale(weight)
    ratio = weight / scale
    floor = torch.floor(ratio)
    rest = (ratio - floor).clamp(1e-6, 1 - 1e-6)
    v = (-torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1)).requires_grad_()
    optimizer = torch.optim.Adam([v], lr=options.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    warm = int(options.warmup * options.iterations)
    qmax = grid.weight_qmax
    positions = max(1, target[0, 0].numel())  # a 56x56 map costs as much per image as 3 CIFAR images
    batch = max(1, min(options.batch, len(x), POSITIONS // positions))
    for step in range(options.iterations):
        pick = torch.randint(len(x), (batch,), generator=generator)
        soft = _soft(v)
        out = layer_forward(module, x[pick], scale * torch.clamp(floor + soft, -qmax, qmax), bias)
        loss = (out - target[pick]).pow(2).sum(1).mean()
        if step >= warm:
            progress = (step - warm) / max(1, options.iterations - warm)
            beta = options.beta[1] + 0.5 * (options.beta[0] - options.beta[1]) * (
                1 + torch.cos(torch.tensor(progress * torch.pi))
            )
            loss = loss + options.regularization * (1 - (2 * soft - 1).abs().pow(beta)).sum()
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    integers = torch.clamp(floor + (v.detach() >= 0).float(), -qmax, qmax)
    # Each channel's extreme weight must stay at +-qmax, or the engine would derive another scale.
    extreme = ratio.abs() >= qmax - 1e-3
    return torch.where(extreme, torch.round(ratio).clamp(-qmax, qmax), integers)
