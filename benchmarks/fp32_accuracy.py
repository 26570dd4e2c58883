"""The shared checkpoints' fp32 top-1 on the full CIFAR-10 test split, and their ONNX/TFLite exports'.

What tests/test_accuracy.py and tests/test_export.py check on a stratified 2,000-image subset, here on all
10,000 images: the checkpoint (no --arch) must reproduce its reference top-1, and each export must match it.

Usage: python benchmarks/fp32_accuracy.py [--shared ../shared] [--json fp32_accuracy.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _table import print_rows

from edgeres.bench.record import machine_info
from edgeres.data import open_images
from edgeres.evaluate import evaluate
from edgeres.export import export_model
from edgeres.predict import open_predictor

REFERENCE = {"resnet20-12fca82f.th": 0.8103, "resnet32-d509ac18.th": 0.8256, "resnet18_cifar10.pth": 0.8415}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--json", type=Path, default=Path("fp32_accuracy.json"))
    args = parser.parse_args()
    images = open_images(args.shared / "datasets" / "cifar10" / "test")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, reference in REFERENCE.items():
            checkpoint = args.shared / "checkpoints" / name
            models = {"checkpoint": checkpoint}
            for fmt in ("onnx", "tflite"):
                models[fmt] = export_model(checkpoint, Path(tmp) / f"{checkpoint.stem}.{fmt}").path
            for kind, path in models.items():
                predictor = open_predictor(path)
                result = evaluate(predictor, images)
                predictor.close()
                rows.append({"checkpoint": name, "model": kind, "n": result.n, "top1": round(result.top1, 4),
                             "reference": reference, "top5": round(result.top5, 4)})  # fmt: skip
    print_rows("fp32 top-1 on the full CIFAR-10 test split", rows, width=140)
    args.json.write_text(json.dumps({"machine": machine_info(), "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
