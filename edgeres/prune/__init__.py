"""Residual-aware structured pruning: a smaller dense ResNet that every later stage treats like any other.

`prune_model` prunes a loaded model in memory (by channel ratio or to a fraction of its MACs);
`prune_checkpoint` is the whole `edgeres prune` job: load, prune, optionally fine-tune, save, report.
"""

from __future__ import annotations

from .finetune import FinetuneLog, FinetuneOptions, finetune
from .job import PruneResult, prune_checkpoint
from .structured import IMPORTANCES, PruneOptions, prune_model

__all__ = [
    "IMPORTANCES",
    "FinetuneLog",
    "FinetuneOptions",
    "PruneOptions",
    "PruneResult",
    "finetune",
    "prune_checkpoint",
    "prune_model",
]
