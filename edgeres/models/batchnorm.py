"""A BatchNorm's running variance as a checkpoint holds it: the one statistic that can pass every other check
and still make the model compute NaN."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..errors import CheckpointError, EdgeresWarning


def check_running_variance(layer: str, variance: torch.Tensor, path: Path) -> None:
    """A BatchNorm's running variance: negative is refused (its outputs would be NaN); zero is a warning (eps
    keeps the outputs finite, but an untrained or damaged channel is likely)."""
    if (variance < 0).any():
        count = int((variance < 0).sum())
        raise CheckpointError(
            f"{path}: BatchNorm {layer} has a negative running variance in {count} channel(s) (lowest "
            f"{float(variance.min()):.3g}), which makes every output NaN; the checkpoint is damaged: use an earlier one"
        )
    if (variance == 0).any():
        count = int((variance == 0).sum())
        warnings.warn(
            EdgeresWarning(
                f"{path}: BatchNorm {layer} has a zero running variance in {count} channel(s); eps keeps its outputs "
                "finite, but such channels usually mean an untrained or damaged layer"
            ),
            stacklevel=2,
        )
