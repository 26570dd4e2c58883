"""What a prune job reports: the result record (its JSON is the report file) and the warnings said with it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .finetune import FinetuneLog
from .options import PruneOptions
from .settings import PruneSettings

USELESS_DROP = 0.10  # top-1 lost beyond this (10 pp) is said loudly: the pruned model needs fine-tuning


@dataclass
class PruneResult:
    out: Path
    report_path: Path
    arch: str
    ratio: float
    target_macs: float | None
    options: PruneOptions
    before: dict[str, Any]
    after: dict[str, Any]
    finetune: FinetuneLog | None = None
    top1: dict[str, float] | None = None
    latency: list[dict[str, Any]] | None = None
    target_latency: float | None = None
    latency_plan: dict[str, Any] | None = None  # --target-latency: widths, predicted and measured latency
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. a pruned model far below the original's top-1

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("options", "finetune")}
        data |= {"out": str(self.out), "report_path": str(self.report_path), "options": asdict(self.options)}
        data["finetune"] = self.finetune.to_dict() if self.finetune else None
        return data


def rewrite_warnings(settings: PruneSettings, used: PruneOptions) -> list[str]:
    """What the MAC search changed of the asked options to reach --target-macs, said in the terminal too."""
    asked = settings.options
    if settings.target_macs is None or settings.target_latency is not None:
        return []
    changed = []
    if used.global_pruning != asked.global_pruning:
        changed.append("ranked channels across layers (--global)")
    if used.round_to != asked.round_to:
        changed.append(f"used --round-to {used.round_to or 1} instead of {asked.round_to or 1}")
    if not changed:
        return []
    return [
        f"to keep {settings.target_macs:.0%} of the MACs, pruning {' and '.join(changed)}: the options as given "
        "missed the target by more than 1%; pass those flags yourself to choose, or another --target-macs"
    ]


def mac_warning(result: PruneResult) -> str | None:
    """Said when the share of MACs kept is more than 1 point from --target-macs (the README's promise; the
    search itself accepts up to 3% of the target)."""
    if result.target_macs is None or not result.before.get("macs"):
        return None
    kept = result.after["macs"] / result.before["macs"]
    if abs(kept - result.target_macs) <= 0.01:
        return None
    return (
        f"kept {kept:.1%} of the MACs for --target-macs {result.target_macs:g}: the closest these channels allow "
        "(more than 1 point off); choose another --target-macs, or --round-to 1 for finer steps"
    )


def accuracy_warning(top1: dict[str, float] | None, finetuned: bool) -> str | None:
    """A loud line when the pruned model lost so much top-1 that it is no use as it is."""
    if not top1 or top1["before"] - top1["after"] <= USELESS_DROP:
        return None
    fix = (
        "fine-tune longer (--epochs; [prune] epochs in a pipeline) or prune less"
        if finetuned
        else "fine-tune it (--finetune TRAIN_DIR; [prune] train in a pipeline) or prune less"
    )
    return (
        f"pruned top-1 {top1['after']:.4f} is {100 * (top1['before'] - top1['after']):.1f} pp below the "
        f"original's {top1['before']:.4f}: this model is not usable as it is; {fix}"
    )
