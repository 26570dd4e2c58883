"""Residual-aware structured pruning: a smaller dense ResNet that every later stage treats like any other.

`prune_model` prunes a loaded model in memory (by channel ratio or to a fraction of its MACs);
`prune_to_latency` to a fraction of its latency measured on this machine or a board;
`prune_checkpoint` is the whole `edgeres prune` job: load, prune, optionally fine-tune, save, report.
"""

from __future__ import annotations

from .finetune import FinetuneLog, FinetuneOptions, finetune
from .job import PruneResult, prune_checkpoint
from .latency_target import LatencyPlan, LatencyTarget, latency_goal, latency_goal_for_profile, prune_to_latency
from .structured import IMPORTANCES, PruneOptions, prune_model

__all__ = [
    "IMPORTANCES",
    "FinetuneLog",
    "FinetuneOptions",
    "LatencyPlan",
    "LatencyTarget",
    "PruneOptions",
    "PruneResult",
    "finetune",
    "latency_goal",
    "latency_goal_for_profile",
    "prune_checkpoint",
    "prune_model",
    "prune_to_latency",
]
