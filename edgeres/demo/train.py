"""A small time-bounded training loop for the demo: SGD, cosine schedule over wall time, random shifts."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..augment import random_shift


def train_for(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    seconds: float,
    min_steps: int = 0,
    seed: int,
    progress: Callable[[int, int], None],
    batch_size: int = 128,
    peak_lr: float = 0.1,
) -> tuple[int, int]:
    """Train on preprocessed arrays until `seconds` pass and `min_steps` are done; the LR anneals to zero then.

    `min_steps` keeps a busy or slow machine from ending with an untrained model.

    Returns (steps, images seen).
    """
    torch.manual_seed(seed)
    data, labels = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=peak_lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    model.train()
    start, steps, seen = time.perf_counter(), 0, 0
    while (fraction := _fraction(time.perf_counter() - start, seconds, steps, min_steps)) < 1.0:
        elapsed = time.perf_counter() - start
        warm = min(1.0, fraction / 0.05)
        for group in optimizer.param_groups:
            group["lr"] = peak_lr * warm * 0.5 * (1 + math.cos(math.pi * fraction))
        idx = torch.randint(0, len(data), (batch_size,))
        batch = random_shift(data[idx])
        loss = F.cross_entropy(model(batch), labels[idx], label_smoothing=0.05)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        steps, seen = steps + 1, seen + batch_size
        progress(min(int(elapsed), int(seconds)), int(seconds))
    progress(int(seconds), int(seconds))
    model.eval()
    return steps, seen


def _fraction(elapsed: float, seconds: float, steps: int, min_steps: int) -> float:
    """How far training is: the lesser of time and step progress."""
    return min(elapsed / seconds, steps / min_steps if min_steps else 1.0)
