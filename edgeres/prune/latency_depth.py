"""Which residual blocks to remove when narrower widths alone do not reach a latency target.

What removing one block of a stage saves is measured on whole networks (one per stage, its least sensitive
block removed), like every other latency here; which block goes is the one whose removal saves the most time
per unit of divergence from the unpruned predictions (edgeres.prune.depth). Blocks are added until the
measured savings cover what widths alone left, with a margin: removing a block also removes convs that width
pruning would have narrowed, so the two savings do not add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..latency.setting import LatencySetting
from ..latency.whole import whole_model_ms
from ..models import LoadedModel
from ..progress import Progress
from .depth import Block, block_sensitivity, drop_blocks, droppable_blocks, most_per_stage

DEPTH_MARGIN = 1.25  # blocks removed until their summed savings reach this multiple of what is missing


@dataclass
class DepthChoice:
    """The blocks removed and the measurements that chose them; part of the prune report's latency plan."""

    removed: list[str]
    sensitivity: dict[str, float]  # block -> KL of the predictions without it (calibration images)
    savings: dict[str, dict[str, float]]  # stage -> precision -> fraction of the latency one block saves
    ms: dict[str, dict[str, float]]  # precision -> {"unpruned", "pruned": the shallower network} milliseconds
    widths_only: dict[str, float] = field(default_factory=dict)  # precision -> best ratio from widths alone

    @property
    def measured(self) -> dict[str, float]:
        """{precision: the shallower network's latency over the unpruned one's}."""
        return {p: t["pruned"] / t["unpruned"] for p, t in self.ms.items()}

    def round_record(self) -> dict[str, Any]:
        """The latency plan's record when removing blocks alone met the target (prediction: summed savings)."""
        record: dict[str, Any] = {"round": 1, "widths": {}, "removed": self.removed}
        for precision, times in self.ms.items():
            saved = sum(self.savings[b.rpartition(".")[0]][precision] for b in self.removed)
            predicted, measured = 1 - saved, times["pruned"] / times["unpruned"]
            before = times["unpruned"]
            record[precision] = {
                "predicted_ms": {"before": before, "after": before * predicted, "ratio": predicted},
                "measured_ms": {"before": before, "after": times["pruned"], "ratio": measured},
                "error": predicted / measured - 1,
            }
        return record


def _stage_savings(
    loaded: LoadedModel, blocks: list[Block], sensitivity: dict[str, float], settings: list[LatencySetting]
) -> dict[str, dict[str, float]]:
    """{stage: {precision: fraction of the latency saved by removing its least sensitive block}}, measured."""
    least: dict[str, Block] = {}
    for block in sorted(blocks, key=lambda b: sensitivity[b.name], reverse=True):
        least[block.stage] = block
    networks = {"unpruned": loaded, **{stage: drop_blocks(loaded, [b]) for stage, b in least.items()}}
    times = whole_model_ms(networks, settings, anchor="unpruned")
    return {stage: {p: 1 - t[stage] / t["unpruned"] for p, t in times.items()} for stage in least}


def pick_blocks(
    blocks: list[Block],
    sensitivity: dict[str, float],
    savings: dict[str, dict[str, float]],
    needs: dict[str, float],
    most: dict[str, int],
) -> list[Block]:
    """Blocks in order of time saved (the first precision of `needs`) per divergence, until the savings cover
    every need with DEPTH_MARGIN; at most `most[stage]` per stage, none from a stage whose removal saves nothing."""
    main = next(iter(needs))
    ranked = sorted(blocks, key=lambda b: savings[b.stage][main] / max(sensitivity[b.name], 1e-9), reverse=True)
    removed: list[Block] = []
    for block in ranked:
        saved = {p: sum(savings[b.stage][p] for b in removed) for p in needs}
        if all(saved[p] >= need * DEPTH_MARGIN for p, need in needs.items()):
            break
        if savings[block.stage][main] > 0 and sum(b.stage == block.stage for b in removed) < most[block.stage]:
            removed.append(block)
    return removed


def choose_drops(
    loaded: LoadedModel,
    needs: dict[str, float],
    settings: list[LatencySetting],
    images: torch.Tensor,
    progress: Progress | None = None,
) -> tuple[LoadedModel, DepthChoice] | None:
    """The network without the blocks that best make up `needs` ({precision: fraction of the unpruned latency
    still to save}, the first the main one), and what chose them; None when no block can go or none saves."""
    blocks = droppable_blocks(loaded)
    if not blocks or not needs:
        return None
    if progress is not None:
        progress("measuring which residual blocks can go", 0, 1)
    sensitivity = block_sensitivity(loaded, images, blocks)
    savings = _stage_savings(loaded, blocks, sensitivity, settings)
    removed = pick_blocks(blocks, sensitivity, savings, needs, most_per_stage(loaded))
    if not removed:
        return None
    base = drop_blocks(loaded, removed)
    ms = whole_model_ms({"unpruned": loaded, "pruned": base}, settings, anchor="unpruned")
    names = sorted(b.name for b in removed)
    return base, DepthChoice(names, sensitivity, savings, ms)
