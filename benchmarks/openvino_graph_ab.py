"""edgeres's int8 ONNX file and NNCF's int8 model of the same fp32 file, A/B in OpenVINO: latency and the
runtime graph's ops by type and precision, where they differ.

Usage: pip install -e '.[peers]'; python benchmarks/openvino_graph_ab.py [--shared ../shared] [--arch resnet18]
torchvision's `--arch` with random weights (seed 0, 10 classes) at 224x224; both quantized on the same 128
CIFAR-10 training images (edgeres: x86-vnni recipe, --optimize none; NNCF: default `nncf.quantize`); each
compiled with OpenVINO's defaults (latency hint, one stream); 300 alternating batch-1 calls on one image.
"""

from __future__ import annotations

import collections
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from _table import machine_header
from _table import parser as make_parser

from edgeres.export import export_model
from edgeres.models import load_model
from edgeres.quantize import QuantizeSettings, quantize_model
from edgeres.quantize.calibration import calibration_set


def _ops(core: Any, model: Any) -> tuple[Any, collections.Counter[tuple[str, str]]]:
    compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1})
    found: collections.Counter[tuple[str, str]] = collections.Counter()
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
        found[(kind, precision)] += 1
    return compiled, found


def main() -> None:
    parser = make_parser(__doc__ or "", "openvino_graph_ab.json")
    parser.add_argument("--arch", default="resnet18")
    args = parser.parse_args()
    import nncf
    import openvino as ov

    calib = str(args.shared / "datasets" / "cifar10" / "train")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        torch.manual_seed(0)
        torch.save(getattr(torchvision.models, args.arch)(num_classes=10).eval().state_dict(), folder / "m.pth")
        loaded = load_model(folder / "m.pth")
        fp32 = export_model(loaded, folder / "fp32.onnx").path
        settings = QuantizeSettings(calib=calib, target="x86-vnni", num=128, optimize="none")
        int8 = quantize_model(folder / "m.pth", folder / "int8.onnx", settings).path
        x = calibration_set(calib, loaded.card, num=128).inputs
        core = ov.Core()
        dataset = nncf.Dataset([x[i : i + 1] for i in range(len(x))])
        ours, our_ops = _ops(core, core.read_model(str(int8)))
        theirs, their_ops = _ops(core, nncf.quantize(core.read_model(str(fp32)), dataset, subset_size=len(x)))
    requests = {"edgeres": ours.create_infer_request(), "nncf": theirs.create_infer_request()}
    samples: dict[str, list[float]] = {name: [] for name in requests}
    for index in range(320):
        for name, request in requests.items():
            start = time.perf_counter()
            request.infer({0: x[:1]})
            if index >= 20:
                samples[name].append(time.perf_counter() - start)
    p50 = {name: round(float(np.median(s)) * 1e3, 3) for name, s in samples.items()}
    differing = {f"{k[0]} {k[1]}": [our_ops[k], their_ops[k]] for k in sorted(set(our_ops) | set(their_ops))}
    differing = {k: v for k, v in differing.items() if v[0] != v[1]}
    print(f"p50 ms: {p50}\nops differing (edgeres, nncf): {differing}")
    args.json.write_text(json.dumps({**machine_header(), "p50_ms": p50, "ops_differing": differing}, indent=2) + "\n")


if __name__ == "__main__":
    main()
