"""Label-preserving augmentation on normalised image batches (N x 3 x H x W tensors), for training loops."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_shift(batch: torch.Tensor, pad: int = 3, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate the whole batch by up to `pad` pixels (reflect-padded), the usual CIFAR augmentation."""
    padded = F.pad(batch, (pad, pad, pad, pad), mode="reflect")
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    height, width = batch.shape[-2:]
    return padded[..., dy : dy + height, dx : dx + width]


def random_flip(batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = torch.rand(batch.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], batch.flip(-1), batch)
