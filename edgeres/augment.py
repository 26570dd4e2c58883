"""Augmentation on normalised image batches (N x 3 x H x W tensors), for training loops: label-preserving
shifts and flips, and mixup (pairs of images blended, their targets alike)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def random_shift(batch: torch.Tensor, pad: int = 3, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate the whole batch by up to `pad` pixels (reflect-padded), the usual CIFAR augmentation."""
    return shift(batch, pad, *shift_draw(pad, generator))


def shift_draw(pad: int, generator: torch.Generator | None = None) -> tuple[int, int]:
    """The (dy, dx) offsets random_shift draws, for callers that apply one draw to parts of a batch."""
    dy, dx = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,), generator=generator))
    return dy, dx


def shift(batch: torch.Tensor, pad: int, dy: int, dx: int) -> torch.Tensor:
    """Translate the whole batch by (dy - pad, dx - pad) pixels, reflect-padded: one draw of shift_draw."""
    padded = F.pad(batch, (pad, pad, pad, pad), mode="reflect")
    height, width = batch.shape[-2:]
    return padded[..., dy : dy + height, dx : dx + width]


def random_flip(batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    return flip(batch, torch.rand(batch.shape[0], generator=generator) < 0.5)


def flip(batch: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images where `mask` is true."""
    return torch.where(mask[:, None, None, None], batch.flip(-1), batch)


def mixup_draw(alpha: float, size: int, seed: int) -> torch.Tensor:
    """Each image's share of itself in mixup, drawn from Beta(alpha, alpha) with `seed` alone (a plan made once
    for the whole batch replays the same on every rank and on resume)."""
    return torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size).astype(np.float32))


def mix(
    batch: torch.Tensor,
    targets: torch.Tensor,
    share: torch.Tensor,
    partners: torch.Tensor,
    partner_targets: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup: each image blended with its partner (the previous image of the shuffled global batch), `share` of
    itself, and its class-probability targets blended alike (N x classes)."""
    weight = share.to(batch.device)
    images = weight[:, None, None, None] * batch + (1 - weight[:, None, None, None]) * partners
    return images, weight[:, None] * targets + (1 - weight[:, None]) * partner_targets
