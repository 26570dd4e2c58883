"""Top-1 and agreement of every GPU variant on the shared CIFAR checkpoints, against PyTorch fp32 on the CPU.

Variants: PyTorch on CUDA in fp32, fp16, fp16 with CUDA graphs and fp16 under torch.compile; onnxruntime's
CUDA and TensorRT execution providers (fp32, fp16, and int8 from edgeres's symmetric-int8 QDQ file) where
onnxruntime-gpu is installed, else the reason they are missing. All variants score the same batches of the
full test split (one `score_many` per checkpoint), so agreement is image by image.

Usage: python benchmarks/gpu_accuracy.py [--shared ../shared] [--limit N] [--checkpoints A,B] [--kinds torch,ort]
       [--json gpu_accuracy.json]
On a machine without CUDA it says so and exits 2.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _table import machine_header, print_rows
from _table import parser as make_parser

from edgeres.data import open_images
from edgeres.errors import EdgeresError
from edgeres.evaluate import score_many
from edgeres.export import export_model
from edgeres.options import RuntimeOptions
from edgeres.predict import open_predictor
from edgeres.quantize import QuantizeSettings, quantize_model
from edgeres.runtimes.ort_providers import PROVIDERS

CHECKPOINTS = ("resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet18_cifar10.pth")
TORCH_VARIANTS: dict[str, dict[str, Any]] = {
    "torch cuda fp32": {},
    "torch cuda fp16": {"fp16": True},
    "torch cuda fp16 cuda-graphs": {"fp16": True, "cuda_graphs": True},
    "torch cuda fp16 compile": {"fp16": True, "compile_mode": "default"},
}


def _ort_variants(checkpoint: Path, calib: Path, folder: Path, skipped: dict[str, str]) -> dict[str, Any]:
    """onnxruntime's GPU providers on this checkpoint's fp32 ONNX file and its symmetric-int8 QDQ file."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    here = [name for name in ("cuda", "tensorrt") if PROVIDERS[name] in available]
    for name in {"cuda", "tensorrt"} - set(here):
        skipped[f"ort {name}"] = f"onnxruntime {ort.__version__} has no {PROVIDERS[name]} (has {', '.join(available)})"
    if not here:
        return {}
    fp32, int8 = folder / f"{checkpoint.stem}.onnx", folder / f"{checkpoint.stem}_int8.onnx"
    export_model(checkpoint, fp32, force=True)
    quantize_model(
        checkpoint, int8, QuantizeSettings(calib=calib, target="generic", num=256, optimize="none", force=True)
    )
    variants = {}
    for name in here:
        variants[f"ort {name} fp32"] = (fp32, {"provider": name})
        if name == "tensorrt":
            variants["ort tensorrt fp16"] = (fp32, {"provider": "tensorrt-fp16"})
        variants[f"ort {name} int8 (generic QDQ)"] = (int8, {"provider": name})
    return variants


def _open_all(
    checkpoint: Path, calib: Path, folder: Path, kinds: set[str], skipped: dict[str, str]
) -> tuple[list[str], list[Any]]:
    """The CPU reference first, then every GPU variant that opens here (the others land in `skipped`)."""
    names, predictors = ["torch cpu fp32"], [open_predictor(checkpoint)]
    variants = {name: (checkpoint, options) for name, options in TORCH_VARIANTS.items() if "torch" in kinds}
    variants |= _ort_variants(checkpoint, calib, folder, skipped) if "ort" in kinds else {}
    for name, (path, options) in variants.items():
        try:
            predictors.append(open_predictor(path, options=RuntimeOptions(device="cuda", **options)))
            names.append(name)
        except EdgeresError as exc:
            skipped[name] = str(exc)
    return names, predictors


def main() -> int:
    parser = make_parser(__doc__, "gpu_accuracy.json")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--checkpoints", default=",".join(CHECKPOINTS))
    parser.add_argument("--kinds", default="torch,ort", help="which GPU variants: torch, ort or both")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device here: run this on a GPU machine", file=sys.stderr)
        return 2
    header = {**machine_header(), "gpu": torch.cuda.get_device_name(), "torch": torch.__version__}
    rows: list[dict[str, object]] = []
    skipped: dict[str, str] = {}
    images = open_images(args.shared / "datasets" / "cifar10" / "test")
    calib, folder = args.shared / "datasets" / "cifar10" / "train", Path(tempfile.mkdtemp())
    for checkpoint in args.checkpoints.split(","):
        start = time.perf_counter()
        path, kinds = args.shared / "checkpoints" / checkpoint, set(args.kinds.split(","))
        names, predictors = _open_all(path, calib, folder, kinds, skipped)
        results, agreement = score_many(predictors, images, limit=args.limit, names=names)
        for index, (name, result) in enumerate(zip(names, results, strict=True)):
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "variant": name,
                    "n": result.n,
                    "top1": round(result.top1, 4),
                    "agreement_with_cpu_fp32": round(float(agreement[index, 0]), 4),
                }
            )
        for predictor in predictors:
            predictor.close()
        print(f"{checkpoint}: {time.perf_counter() - start:.1f} s", flush=True)
        args.json.write_text(json.dumps({"machine": header, "rows": rows, "skipped": skipped}, indent=2))
    print_rows(f"GPU variants vs PyTorch fp32 on the CPU, {header['gpu']}", rows)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
