"""`edgeres deploy` beside NNCF+OpenVINO: the file deploy hands over, timed against onnxruntime fp32 and NNCF's.

Usage: pip install -e '.[peers]'; python benchmarks/deploy.py [--shared ../shared] [--json deploy.json]
       [--models resnet18_cifar10@32 resnet18@224 resnet50@224] [--optimize fast]
Models: resnet18_cifar10@32 is the shared checkpoint, bound on top-1 over 2,000 test images (--max-drop 0.5);
resnet18@224 and resnet50@224 are torchvision's definitions with random weights (seed 0) and their default 224
card, bound on agreement with the PyTorch model on held-out calibration images: --max-drop 5, as random weights
leave near-ties that int8 flips without meaning anything; their finalists are not re-made (--optimize none:
preparation at 224 takes minutes per file and does not change latency).
For each: `deploy_model` on local-cpu, then one interleaved timing run (batch 1, the target's threads) of the
fp32 ONNX file in onnxruntime, the deployed file in the runtime and settings deploy.json names, and NNCF 3.4's
int8 model of the same fp32 file (default `nncf.quantize`, the same 256 calibration images) in OpenVINO with
its defaults. Speed-ups are against onnxruntime fp32 from that run.
"""

from __future__ import annotations

import json
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from _table import machine_header, print_rows
from _table import parser as make_parser

from edgeres.bench.harness import TimingConfig, time_interleaved
from edgeres.bench.stats import latency_stats
from edgeres.deploy.run import deploy_model
from edgeres.deploy.settings import DeploySettings
from edgeres.models import load_model
from edgeres.options import RuntimeOptions
from edgeres.quantize.calibration import calibration_set
from edgeres.runtimes import registry

TIMING = TimingConfig(warmup=20, min_runs=200, min_seconds=3.0)


def _model(name: str, shared: Path, folder: Path) -> tuple[Path, dict[str, Any]]:
    """The checkpoint and the deploy settings' data bound of one benchmark model."""
    if name == "resnet18_cifar10@32":
        test = shared / "datasets" / "cifar10" / "test"
        return shared / "checkpoints" / "resnet18_cifar10.pth", {"data": test, "limit": 2000, "max_drop": 0.5}
    arch = name.split("@")[0]
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10).eval()
    path = folder / f"{arch}.pth"
    torch.save(model.state_dict(), path)
    return path, {"max_drop": 5.0, "optimize": "none"}


def _nncf_openvino(fp32: Path, calib: np.ndarray) -> Any:
    import nncf
    import openvino as ov

    core = ov.Core()
    dataset = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))])
    quantized = nncf.quantize(core.read_model(str(fp32)), dataset, subset_size=len(calib))
    compiled = core.compile_model(quantized, "CPU", {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})


def _side_by_side(out: Path, calib: np.ndarray) -> dict[str, dict[str, float]]:
    record = json.loads((out / "deploy.json").read_text())
    fp32 = out / "candidates" / "fp32.onnx"
    x = calib[:1]
    ort = registry.named("ort").open(fp32, RuntimeOptions(threads=record["threads"]))
    chosen = registry.named(record["runtime"]).open(
        out / record["file"], RuntimeOptions(threads=record["threads"], **record["settings"])
    )
    calls = {
        "onnxruntime fp32": partial(ort.invoke, ort.prepare(x)),
        f"deployed ({record['file']} in {record['runtime']})": partial(chosen.invoke, chosen.prepare(x)),
        "NNCF int8 in OpenVINO": partial(_nncf_openvino(fp32, calib), x),
    }
    timings = time_interleaved(calls, TIMING)
    return {name: {"p50_ms": latency_stats(t.samples_s).p50_ms} for name, t in timings.items()}


def main() -> None:
    args = make_parser(__doc__ or "", "deploy.json")
    args.add_argument("--models", nargs="+", default=["resnet18_cifar10@32", "resnet18@224", "resnet50@224"])
    args.add_argument("--optimize", default="fast")
    parsed = args.parse_args()
    calib_dir = parsed.shared / "datasets" / "cifar10" / "train"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in parsed.models:
            checkpoint, bound = _model(name, parsed.shared, Path(tmp))
            start = time.perf_counter()
            settings = DeploySettings(calib=str(calib_dir), num=256, **{"optimize": parsed.optimize, **bound})
            result = deploy_model(checkpoint, Path(tmp) / name, settings)
            seconds = time.perf_counter() - start
            card = load_model(checkpoint).card
            calib = calibration_set(str(calib_dir), card, num=256).inputs
            times = _side_by_side(result.out, calib)
            base = times["onnxruntime fp32"]["p50_ms"]
            for runner, stats in times.items():
                rows.append({"model": name, "runner": runner, "p50_ms": round(stats["p50_ms"], 3),
                             "speedup_vs_ort_fp32": round(base / stats["p50_ms"], 2),
                             "deploy_s": round(seconds), "accuracy": round(result.chosen.accuracy or 0, 4),
                             "metric": result.metric})  # fmt: skip
            print_rows(f"deploy beside NNCF+OpenVINO, {name}", [r for r in rows if r["model"] == name])
    parsed.json.write_text(json.dumps({**machine_header(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
