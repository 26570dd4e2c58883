"""`make test-arm64`: resnet20 int8 ONNX and TFLite on the emulated arm64 board and on this x86 machine.

Both run the same files on the same 1000 stratified CIFAR-10 test images through `edgeres bench --target`
(the board's runner is the torch-free zipapp, under qemu). Passes when each file's top-1 on aarch64 is
within 0.1 pp of x86. Emulated latency is meaningless and only printed.

Usage: EDGERES_CONFIG_DIR=.cache/arm64/config python scripts/arm64_check.py [--shared ../shared] [--json F]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from edgeres.bench import TimingConfig
from edgeres.console import print_targets_bench
from edgeres.export import export_model
from edgeres.quantize import QuantizeSettings, quantize_model
from edgeres.remote import SCHEMA, TargetRunOptions, bench_targets


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default="../shared")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--json", default=".cache/arm64/arm64_check.json")
    args = parser.parse_args()
    shared = Path(args.shared)
    with tempfile.TemporaryDirectory() as tmp:
        folder, ckpt = Path(tmp), shared / "checkpoints" / "resnet20-12fca82f.th"
        calib = shared / "datasets" / "cifar10" / "train"
        models = []
        for fmt in ("onnx", "tflite"):
            fp32 = export_model(ckpt, folder / f"resnet20.{fmt}").path
            models.append(
                quantize_model(
                    fp32, folder / f"resnet20_int8.{fmt}", QuantizeSettings(calib=calib, target="arm64")
                ).path
            )
        options = TargetRunOptions(
            data=shared / "datasets" / "cifar10" / "test",
            limit=args.limit,
            timing=TimingConfig(warmup=1, min_runs=5, min_seconds=0),
        )
        results = bench_targets(models, ["arm64-emulated", "local-cpu"], options)
    record = {"schema": SCHEMA, "targets": [r.to_dict() for r in results]}
    print_targets_bench(record)
    Path(args.json).write_text(json.dumps(record, indent=2))
    for result in results:
        if result.error:
            print(f"error: {result.error}", file=sys.stderr)
            return 1
    top1 = [{e["model"]: e["accuracy"]["top1"] for run in r.runs for e in run["entries"]} for r in results]
    worst = max(abs(top1[0][m] - top1[1][m]) for m in top1[1])
    machines = [r.runs[0]["machine"]["machine"] for r in results]
    print(f"{machines[0]} vs {machines[1]}: largest top-1 difference {worst * 100:.2f} pp (limit 0.1 pp)")
    return 0 if worst <= 0.001 and machines[0] == "aarch64" else 1


if __name__ == "__main__":
    sys.exit(main())
