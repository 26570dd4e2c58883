"""fp32 and int8 latency of the three formats side by side: ONNX (onnxruntime), TFLite (LiteRT) and ExecuTorch.

Per checkpoint (and resnet18_cifar10 exported at 224x224): the fp32 file of each format, and edgeres's int8
file of each (`--target auto`: the ONNX recipe that fits this CPU; TFLite and ExecuTorch run XNNPACK's int8
kernels on every CPU), all timed in one interleaved `bench_models` run at batch 1. Latency does not depend
on which images calibrate, so the int8 files here calibrate on 128 images without preparation; top-1 of the
int8 files comes from int8_accuracy.py (full split).

Usage: python benchmarks/formats_side_by_side.py [--shared ../shared] [--threads 2] [--json formats.json]
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _table import machine_header, print_rows
from _table import parser as make_parser

from edgeres.bench import BenchSettings, TimingConfig, bench_models
from edgeres.export import export_model
from edgeres.options import CardOverrides, LoadOptions, RuntimeOptions
from edgeres.quantize import QuantizeSettings, quantize_model

FORMATS = ("onnx", "tflite", "pte")
MODELS = {  # row name: (checkpoint, load options)
    "resnet20": ("resnet20-12fca82f.th", LoadOptions()),
    "resnet32": ("resnet32-d509ac18.th", LoadOptions()),
    "resnet18_cifar10": ("resnet18_cifar10.pth", LoadOptions()),
    "resnet18_cifar10@224": (
        "resnet18_cifar10.pth",
        LoadOptions(overrides=CardOverrides(input_size="224", resize=224)),
    ),
}


def _files(shared: Path, name: str, folder: Path) -> dict[str, Path]:
    checkpoint, options = MODELS[name]
    source, train = shared / "checkpoints" / checkpoint, shared / "datasets" / "cifar10" / "train"
    files = {}
    for fmt in FORMATS:
        fp32 = folder / f"{name}.{fmt}"
        export_model(source, fp32, fmt=fmt, load_options=options, force=True)
        int8 = folder / f"{name}_int8.{fmt}"
        quantize_model(
            source,
            int8,
            QuantizeSettings(calib=train, fmt=fmt, target="auto", num=128, optimize="none", force=True, load=options),
        )
        files[f"{fmt} fp32"], files[f"{fmt} int8"] = fp32, int8
    return files


def main() -> None:
    parser = make_parser(__doc__, "formats_side_by_side.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--min-runs", type=int, default=300)
    args = parser.parse_args()
    header = machine_header()
    rows: list[dict[str, object]] = []
    timing = TimingConfig(warmup=20, min_runs=args.min_runs, min_seconds=1.0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            files = _files(args.shared, name, Path(tmp))
            settings = BenchSettings(options=RuntimeOptions(threads=args.threads), timing=timing)
            run = bench_models(list(files.values()), settings)
            p50 = {Path(entry.model).name: entry.stats.p50_ms for entry in run.entries}
            row: dict[str, object] = {"model": name}
            for label, path in files.items():
                row[f"{label} p50 ms"] = round(p50[path.name], 3)
            for fmt in FORMATS:
                row[f"{fmt} int8/fp32"] = round(p50[f"{name}_int8.{fmt}"] / p50[f"{name}.{fmt}"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
            args.json.write_text(json.dumps({"machine": header, "threads": args.threads, "rows": rows}, indent=2))
    print_rows(f"batch 1, {args.threads} threads, {header['cpu']}", rows, width=240)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
