"""Parameter count, MACs at the card's input size, and a per-stage breakdown of a loaded model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .card import ModelCard


@dataclass
class StageInfo:
    name: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class ModelSummary:
    """What `edgeres inspect` reports; MACs count conv and linear layers (the torchvision convention)."""

    params: int
    macs: int
    input_shape: tuple[int, ...]
    stages: list[StageInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _stage_of(child: str, seen_layer: bool) -> str:
    if child.startswith("layer"):
        return child
    return "head" if seen_layer else "stem"


def summarize(model: nn.Module, card: ModelCard) -> ModelSummary:
    """Run one batch-1 input of the card's size through `model` and account for every top-level child."""
    groups: dict[str, list[str]] = {}
    seen_layer = False
    for child, _ in model.named_children():
        seen_layer = seen_layer or child.startswith("layer")
        groups.setdefault(_stage_of(child, seen_layer), []).append(child)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        getattr(model, child).register_forward_hook(
            lambda _m, _i, out, stage=stage: shapes.__setitem__(stage, tuple(out.shape))
        )
        for stage, children in groups.items()
        for child in children
    ]
    counter = FlopCounterMode(display=False)
    device = next(model.parameters()).device  # "meta" counts MACs of huge models without memory
    x = torch.zeros(1, 3, *card.input_size, device=device)
    try:
        with torch.inference_mode(), counter:
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    flops = counter.get_flop_counts()
    root = type(model).__name__
    stages = []
    for stage, children in groups.items():
        macs = sum(sum(flops.get(f"{root}.{c}", {}).values()) for c in children) // 2
        params = sum(p.numel() for c in children for p in getattr(model, c).parameters())
        stages.append(StageInfo(stage, shapes.get(stage, ()), params, int(macs)))
    total_params = sum(p.numel() for p in model.parameters())
    return ModelSummary(total_params, int(counter.get_total_flops()) // 2, tuple(x.shape), stages)
