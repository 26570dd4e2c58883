"""How channels are ranked and removed, and how the pruned model is fine-tuned: frozen options, torch-free."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import EdgeresError

IMPORTANCES = ("l1", "l2", "bn-scale", "taylor")
DEFAULT_ROUND_TO = 8


def channel_multiple(given: int | None) -> int | None:
    """--round-to (or [prune] round_to) as PruneOptions keeps it: 1 means any count (None), not given the
    default multiple."""
    if given is not None and given < 1:
        raise EdgeresError(f"--round-to must be 1 or more, got {given}")
    return None if given == 1 else (given or DEFAULT_ROUND_TO)


@dataclass(frozen=True, kw_only=True)  # built by keyword: no silent swap of two settings
class PruneOptions:
    """How to rank and remove channels. `ratio` is the fraction of channels removed per group (or overall
    with `global_pruning`); `round_to` keeps channel counts multiples of N, which SIMD kernels favour."""

    ratio: float = 0.5
    importance: str = "l1"
    global_pruning: bool = False
    keep_residual_width: bool = False
    # Multiples of 8: a pruned resnet18 with 44-channel layers ran 2x slower than the unpruned model in
    # onnxruntime on this x86 CPU, the same MAC cut rounded to 40 channels ran 2x faster (docs/benchmarks.md).
    round_to: int | None = 8
    max_layer_ratio: float = 0.9

    def __post_init__(self) -> None:
        if self.importance not in IMPORTANCES:
            raise EdgeresError(f"unknown importance {self.importance!r}; choose one of {', '.join(IMPORTANCES)}")
        if not 0.0 <= self.ratio < 1.0:
            raise EdgeresError(f"pruning ratio must be in [0, 1), got {self.ratio}")


@dataclass(frozen=True)
class FinetuneOptions:
    epochs: int = 5
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    distill: bool = False
    temperature: float = 4.0
    distill_weight: float = 0.9  # of the soft-target loss; the rest is cross-entropy on the labels
    limit: int | None = None  # a class-stratified subset of the training images
    seed: int = 0
    mixup: float = 0.0  # Beta(mixup, mixup) blends of image pairs, targets alike (0: none)

    def __post_init__(self) -> None:
        wrong = mixup_error(self.mixup)
        if wrong:
            raise EdgeresError(wrong)


def mixup_error(alpha: float) -> str | None:
    """What is wrong with a mixup alpha (--mixup), None when nothing: the one rule for fine-tuning and QAT."""
    if alpha >= 0 and math.isfinite(alpha):
        return None
    return f"--mixup must be 0 (none) or a positive number, got {alpha}"
