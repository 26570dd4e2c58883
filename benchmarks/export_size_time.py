"""Export time and file size per model and format (fp32 and fp16), with verification numbers.

Usage: python benchmarks/export_size_time.py [--shared ../shared] [--json out.json]
Random-weight torchvision models at 224 stand in for ImageNet checkpoints (time and size do not depend on
the weights). Prints a table and writes JSON; results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import torch
import torchvision
from rich.console import Console
from rich.table import Table

from edgeres.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from edgeres.export import ExportOptions, export_model
from edgeres.models import LoadedModel, load_model, spec_from_name

SHARED = ("resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet18_cifar10.pth")
TORCHVISION = ("resnet18", "resnet50", "wide_resnet50_2", "resnext50_32x4d")


def models(shared: Path) -> list[tuple[str, LoadedModel, Path | None]]:
    found = []
    for name in SHARED:
        if (shared / "checkpoints" / name).is_file():
            found.append((name, load_model(shared / "checkpoints" / name), shared / "datasets" / "cifar10" / "test"))
    for arch in TORCHVISION:
        torch.manual_seed(0)
        card = ModelCard(arch, 1000, (224, 224), IMAGENET_MEAN, IMAGENET_STD, resize=256)
        model = getattr(torchvision.models, arch)().eval()
        found.append((f"{arch} (random, 224)", LoadedModel(model, card, spec_from_name(arch, 1000)), None))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--json", type=Path, default=Path("export_size_time.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, loaded, data in models(args.shared):
            for fmt in ("onnx", "tflite"):
                for fp16 in (False, True):
                    out = Path(tmp) / f"model.{fmt}"
                    start = time.perf_counter()
                    result = export_model(
                        loaded, out, options=ExportOptions(fp16=fp16), verify_data=data, verify_limit=128, force=True
                    )
                    total = time.perf_counter() - start
                    check = result.verification
                    assert check is not None
                    rows.append(
                        {
                            "model": name,
                            "format": fmt,
                            "precision": "fp16" if fp16 else "fp32",
                            "export_s": round(result.seconds, 2),
                            "with_verify_s": round(total, 2),
                            "mb": round(result.file_bytes / 1e6, 2),
                            "agreement": check.top1_agreement,
                            "max_abs_diff": check.max_abs_diff,
                            "verified_on": check.inputs.split(":")[0],
                        }
                    )
                    out.unlink()
    table = Table(title="export time and size")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*[f"{v:.2e}" if k == "max_abs_diff" else str(v) for k, v in row.items()])
    Console(width=160).print(table)
    env = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        **{p: version(p) for p in ("torch", "onnx", "onnxruntime", "litert-torch", "ai-edge-litert")},
    }
    args.json.write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
