"""onnxruntime and OpenVINO side by side on the same fp32 and int8 ONNX files: latency, top-1, agreement.

Usage: python benchmarks/runtimes_side_by_side.py [--shared ../shared] [--runtimes ort,openvino]
       [--limit 10000] [--json runtimes.json]
Each model is exported to fp32 ONNX and quantized with `--target auto` (this CPU's x86 recipe, 512 calibration
images of the CIFAR-10 train split, `--optimize none`: the file, not the preparation, is what is compared),
then `bench_models` times both files in every runtime in one interleaved run (batch 1, 2 threads) and, for
the CIFAR checkpoints, scores them on the test split: top-1, agreement with fp32 (the first row) and
agreement of each runtime with onnxruntime on the same file. Random-weight resnet18/50 at 224 stand in for
ImageNet models (speed does not depend on the weights). Rows are written to the JSON as they finish.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torchvision
from _table import machine_header, print_rows, recipe
from _table import parser as make_parser

from edgeres.bench import BenchSettings, TimingConfig, bench_models
from edgeres.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from edgeres.export import export_model
from edgeres.models import LoadedModel, load_model, spec_from_name
from edgeres.options import RuntimeOptions
from edgeres.quantize import QuantizeSettings, quantize_model

CHECKPOINTS = ("resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet18_cifar10.pth")
TORCHVISION = ("resnet18", "resnet50")
TIMING = TimingConfig(warmup=10, min_runs=200, min_seconds=3.0)


def _models(shared: Path) -> list[tuple[str, LoadedModel, bool]]:
    """(label, model, scored on CIFAR-10)."""
    found = [(name, load_model(shared / "checkpoints" / name), True) for name in CHECKPOINTS]
    for arch in TORCHVISION:
        card = ModelCard(arch, 1000, (224, 224), IMAGENET_MEAN, IMAGENET_STD, resize=256)
        model = getattr(torchvision.models, arch)().eval()
        found.append((f"{arch} (random, 224)", LoadedModel(model, card, spec_from_name(arch, 1000)), False))
    return found


def _rows(label: str, run: dict[str, object]) -> list[dict[str, object]]:
    rows = []
    for entry in run["entries"]:  # type: ignore[attr-defined]
        accuracy = entry["accuracy"] or {}
        rows.append(
            {
                "model": label,
                "file": Path(entry["model"]).stem,
                "runtime": entry["runtime"],
                "p50_ms": round(entry["stats"]["p50_ms"], 3),
                "x_fp32_ort": round(entry["speedup_vs_baseline"], 2),
                "top1": accuracy.get("top1"),
                "agreement_fp32": accuracy.get("agreement_with_baseline"),
                "agreement_runtimes": accuracy.get("agreement_across_runtimes"),
            }
        )
    return rows


def main() -> None:
    parser = make_parser(__doc__, "runtimes.json")
    parser.add_argument("--runtimes", default="ort,openvino")
    parser.add_argument("--limit", type=int, default=10000)
    args = parser.parse_args()
    data = args.shared / "datasets" / "cifar10"
    header = machine_header()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, loaded, scored in _models(args.shared):
            stem = Path(tmp) / label.split(" ")[0].split(".")[0]
            fp32 = export_model(loaded, stem.with_name(stem.name + "_fp32.onnx"), force=True).path
            int8 = quantize_model(
                fp32,
                stem.with_name(stem.name + "_int8.onnx"),
                QuantizeSettings(calib=recipe(args.shared), target="auto", optimize="none"),
            ).path
            settings = BenchSettings(
                data=data / "test" if scored else None,
                limit=args.limit if scored else None,
                runtimes=tuple(args.runtimes.split(",")),
                options=RuntimeOptions(threads=2),
                timing=TIMING,
            )
            run = bench_models([fp32, int8], settings).to_dict()
            rows += _rows(label, run)
            header["versions"] = run["machine"]["versions"]
            args.json.write_text(json.dumps({"machine": header, "rows": rows}, indent=2))
    print_rows(f"onnxruntime vs OpenVINO, batch 1, 2 threads, {header['cpu']}", rows, width=200)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
