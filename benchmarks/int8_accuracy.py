"""Int8 accuracy on the full CIFAR-10 test split: fp32 vs int8 top-1, measured by the same runtime.

Usage: python benchmarks/int8_accuracy.py [--shared ../shared] [--json int8_accuracy.json]
Calibration: 512 class-stratified images of the train split (seed 0); default recipes (--target x86).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _table import print_rows

from edgeres.quantize import quantize_model

CHECKPOINTS = ("resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet18_cifar10.pth")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--json", type=Path, default=Path("int8_accuracy.json"))
    args = parser.parse_args()
    data = args.shared / "datasets" / "cifar10"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in CHECKPOINTS:
            for fmt in ("onnx", "tflite"):
                result = quantize_model(
                    args.shared / "checkpoints" / name,
                    Path(tmp) / f"int8.{fmt}",
                    calib=data / "train",
                    num=512,
                    eval_data=data / "test",
                    force=True,
                )
                acc = result.accuracy
                assert acc is not None
                rows.append(
                    {
                        "checkpoint": name,
                        "format": fmt,
                        "recipe": type(result.recipe).__name__,
                        "method": result.recipe.method,
                        "n": acc.n,
                        "fp32_top1": round(acc.fp32_top1, 4),
                        "int8_top1": round(acc.int8_top1, 4),
                        "drop_pp": round(acc.drop_pp, 2),
                        "agreement": round(acc.agreement, 4),
                        "int8_kb": round(result.int8_bytes / 1e3),
                        "seconds": round(result.seconds, 1),
                    }
                )
    print_rows("int8 vs fp32 on the full CIFAR-10 test split (10,000 images)", rows, width=170)
    args.json.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
