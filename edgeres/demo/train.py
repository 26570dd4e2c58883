"""The demo's training loop: a fixed number of SGD steps, so one command gives one model on any machine.

Wall-clock budgets made a busy machine train less and end with a weaker model. A fixed amount of work, its
own random generator and a fixed intra-op thread count (which decides how float sums are split and so their
rounding) make the weights depend on the seed alone, not on load or core count. CPUs of other kinds (AVX2
against AVX-512) may still round differently inside their convolution kernels.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..augment import random_shift

TRAIN_THREADS = 2  # fixed, whatever the machine has: the same float sums in the same order everywhere
DEMO_STEPS = 600  # 40-75 s for cifar_resnet8 on 2 cores (quiet to busy shared host)


def train_steps(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    seed: int,
    progress: Callable[[int, int], None],
    batch_size: int = 128,
    peak_lr: float = 0.1,
) -> int:
    """Train on preprocessed arrays for exactly `steps` SGD steps (warm-up, then cosine to zero).

    Returns the number of images seen.
    """
    generator = torch.Generator().manual_seed(seed)
    data, labels = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = torch.optim.SGD(model.parameters(), lr=peak_lr, momentum=0.9, weight_decay=5e-4, nesterov=True)
    model.train()
    with _fixed_threads(TRAIN_THREADS):
        for step in range(steps):
            fraction = step / steps
            for group in optimizer.param_groups:
                group["lr"] = peak_lr * min(1.0, fraction / 0.05) * 0.5 * (1 + math.cos(math.pi * fraction))
            idx = torch.randint(0, len(data), (batch_size,), generator=generator)
            batch = random_shift(data[idx], generator=generator)
            loss = F.cross_entropy(model(batch), labels[idx], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            progress(step + 1, steps)
    model.eval()
    return steps * batch_size


@contextlib.contextmanager
def _fixed_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set for the block, and restored after."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
