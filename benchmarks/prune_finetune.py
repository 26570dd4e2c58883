"""Prune a CIFAR ResNet to a fraction of its MACs, fine-tune a few epochs on this CPU, report top-1 and latency.

Issue 6's benchmark: resnet32 at 50% MACs, at most 5 epochs on ../shared/datasets/cifar10/train, top-1 on
the full test split within 2 pp of the unpruned model; also ONNX fp32/int8 batch-1 latency side by side.

Usage: python benchmarks/prune_finetune.py [--checkpoint PATH] [--target-macs 0.5] [--epochs 5] [--distill]
       [--json prune_finetune.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from rich.console import Console

from edgeres.console import print_prune
from edgeres.prune.job import prune_checkpoint
from edgeres.prune.options import FinetuneOptions, PruneOptions, channel_multiple
from edgeres.prune.settings import PruneSettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default="../shared")
    parser.add_argument("--checkpoint", default="checkpoints/resnet32-d509ac18.th", help="relative to --shared")
    parser.add_argument("--target-macs", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--distill", action="store_true")
    parser.add_argument("--round-to", type=int, default=8)
    parser.add_argument("--json", default="prune_finetune.json")
    args = parser.parse_args()
    shared = Path(args.shared)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = prune_checkpoint(
            shared / args.checkpoint,
            Path(tmp) / "pruned.safetensors",
            PruneSettings(
                options=PruneOptions(round_to=channel_multiple(args.round_to)),
                target_macs=args.target_macs,
                finetune_data=str(shared / "datasets/cifar10/train"),
                finetune=FinetuneOptions(epochs=args.epochs, lr=args.lr, distill=args.distill),
                eval_data=str(shared / "datasets/cifar10/test"),
                bench=True,
            ),
        )
        print_prune(result)
    record = result.to_dict() | {
        "wall_s": time.perf_counter() - start,
        "machine": platform.processor() or platform.machine(),
        "versions": {p: version(p) for p in ("torch", "torch-pruning", "onnxruntime")},
        "args": vars(args),
    }
    Path(args.json).write_text(json.dumps(record, indent=2))
    Console().print(f"wall time {record['wall_s']:.0f} s; wrote {args.json}")


if __name__ == "__main__":
    main()
