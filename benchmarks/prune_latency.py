"""Pruning for MACs against pruning for measured latency, side by side on one checkpoint (issue 16).

Runs `edgeres prune` twice on the same checkpoint: `--target-macs` (today's way) and `--target-latency` (widths
chosen by the latency model measured on this machine, with an optional cap on the other precision), each with
the same fine-tuning budget, top-1 on the test split and ONNX fp32/int8 batch-1 latency of both models side by
side. Prints one table and writes JSON with the latency plan (predicted and measured, both precisions), the
CPU and its flags.

Usage: python benchmarks/prune_latency.py --checkpoint checkpoints/resnet18_cifar10.pth --target-latency 0.7
       [--cap fp32=0.5] [--target-macs 0.5] [--epochs 0] [--distill] [--eval-limit 2000] [--json out.json]
       [--keep DIR] [--latency-format tflite] [--latency-on PROFILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _table import machine_header
from _table import parser as make_parser
from rich.console import Console
from rich.table import Table

from edgeres.prune.job import prune_checkpoint
from edgeres.prune.latency_goal import latency_goal
from edgeres.prune.options import FinetuneOptions, PruneOptions
from edgeres.prune.report import PruneResult
from edgeres.prune.settings import PruneSettings


def _run(args: argparse.Namespace, goal: str, folder: Path) -> PruneResult:
    shared = Path(args.shared)
    train = shared / "datasets/cifar10/train" if args.epochs else None
    caps = tuple((p, float(f)) for p, f in (cap.split("=") for cap in args.cap))
    return prune_checkpoint(
        shared / args.checkpoint,
        folder / f"{goal}.safetensors",
        PruneSettings(
            options=PruneOptions(),
            target_macs=args.target_macs if goal == "macs" else None,
            target_latency=_goal(args, caps) if goal == "latency" else None,
            finetune_data=str(train) if train else None,
            finetune=FinetuneOptions(epochs=max(1, args.epochs), lr=args.lr, distill=args.distill),
            eval_data=str(shared / "datasets/cifar10/test"),
            eval_limit=args.eval_limit or None,
            bench=True,
        ),
    )


def _goal(args: argparse.Namespace, caps: tuple[tuple[str, float], ...]) -> Any:
    return latency_goal(args.target_latency, caps=caps, on=args.latency_on, fmt=args.latency_format)


def _row(name: str, result: PruneResult) -> list[str]:
    latency = {r["precision"]: r for r in result.latency or [] if r["model"] == "after"}
    before = {r["precision"]: r for r in result.latency or [] if r["model"] == "before"}
    ratio = {p: latency[p]["p50_ms"] / before[p]["p50_ms"] for p in latency}
    top1 = result.top1 or {}
    kept = result.latency_plan["chosen_round"] - 1 if result.latency_plan else 0
    plan = result.latency_plan["rounds"][kept] if result.latency_plan else None
    low = {p: f"{plan[p]['measured_ms']['ratio']:.3f}" for p in ("int8", "fp32")} if plan else {"int8": "", "fp32": ""}
    predicted = {p: f"{plan[p]['predicted_ms']['ratio']:.3f}" for p in ("int8", "fp32")} if plan else low
    return [
        name,
        f"{result.after['macs'] / result.before['macs']:.3f}",
        f"{top1.get('before', 0):.4f} -> {top1.get('after', 0):.4f}",
        f"{ratio.get('fp32', 0):.3f}",
        f"{ratio.get('int8', 0):.3f}",
        f"{predicted['fp32']} / {low['fp32']}",
        f"{predicted['int8']} / {low['int8']}",
    ]


def main() -> None:
    parser = make_parser(__doc__ or "", "prune_latency.json")
    parser.add_argument("--checkpoint", default="checkpoints/resnet18_cifar10.pth", help="relative to --shared")
    parser.add_argument("--target-macs", type=float, default=0.5)
    parser.add_argument("--target-latency", type=float, default=0.7)
    parser.add_argument("--cap", action="append", default=[], help="PRECISION=F, as prune --cap-latency")
    parser.add_argument("--latency-format", help="as prune --latency-format (onnx, tflite)")
    parser.add_argument("--latency-on", help="as prune --latency-on: a target profile or ssh:// board")
    parser.add_argument("--epochs", type=int, default=0, help="0: no fine-tuning")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--distill", action="store_true")
    parser.add_argument("--eval-limit", type=int, default=0, help="0: the full test split")
    parser.add_argument("--only", choices=["macs", "latency"], help="run one of the two")
    parser.add_argument("--keep", type=Path, help="keep the pruned models (and reports) in this folder")
    args = parser.parse_args()
    start, results = time.perf_counter(), {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for goal in [args.only] if args.only else ["macs", "latency"]:
            results[goal] = _run(args, goal, folder)
    table = Table(title=f"{args.checkpoint}: pruned for MACs vs for measured latency (batch 1, this CPU)")
    setting = (
        results["latency"].latency_plan["setting"] if "latency" in results and results["latency"].latency_plan else ""
    )
    for column in ("goal", "MACs", "top-1", "ONNX fp32 p50", "ONNX int8 p50", "fp32 pred / low", "int8 pred / low"):
        table.add_column(column)
    for goal, result in results.items():
        table.add_row(*_row(goal, result))
    Console().print(table)
    if setting:
        Console().print(f"pred / low: the latency plan's predicted and measured ratios, {setting}")
    record: dict[str, Any] = machine_header() | {
        "results": {goal: result.to_dict() for goal, result in results.items()},
        "wall_s": time.perf_counter() - start,
        "versions": {p: version(p) for p in ("torch", "torch-pruning", "onnxruntime", "ai-edge-litert")},
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    args.json.write_text(json.dumps(record, indent=2))
    Console().print(f"wall time {record['wall_s']:.0f} s; wrote {args.json}")


if __name__ == "__main__":
    main()
