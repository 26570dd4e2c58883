"""edgeres int8 beside NNCF's (ONNX and OpenVINO backends): same fp32 ONNX file, same calibration images.

Usage: pip install -e '.[peers]'; python benchmarks/peer_nncf.py [--shared ../shared] [--target x86]
       [--optimize best] [--checkpoints ...] [--json peer_nncf.json]
Each checkpoint is exported once to fp32 ONNX; edgeres and NNCF (default `nncf.quantize` settings, the preset
its documentation starts from) calibrate on the same 512 class-stratified train images (seed 0). Top-1 and
agreement with the fp32 ONNX file (onnxruntime) are measured on all 10,000 test images; NNCF's OpenVINO
model runs in OpenVINO on this CPU.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _table import machine_header, print_rows, recipe
from _table import parser as make_parser

from edgeres.data import iter_batches, open_images
from edgeres.export import export_model
from edgeres.models import LoadedModel, load_model
from edgeres.quantize import QuantizeSettings, quantize_model
from edgeres.quantize.calibration import calibration_set

CHECKPOINTS = ("resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet18_cifar10.pth")
Run = Callable[[np.ndarray], np.ndarray]


def _ort(path: Path) -> Run:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def _nncf_onnx(fp32: Path, calib: np.ndarray, out: Path) -> Run:
    import nncf
    import onnx

    model = onnx.load(str(fp32))
    name = model.graph.input[0].name
    dataset = nncf.Dataset([{name: calib[i : i + 1]} for i in range(len(calib))])
    onnx.save(nncf.quantize(model, dataset, subset_size=len(calib)), str(out))
    return _ort(out)


def _nncf_openvino(fp32: Path, calib: np.ndarray) -> Run:
    import nncf
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(fp32))
    dataset = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))])
    quantized = nncf.quantize(model, dataset, subset_size=len(calib))
    compiled = core.compile_model(quantized, "CPU")
    return lambda x: compiled(x)[0]


def _edgeres(args: argparse.Namespace, loaded: LoadedModel, tmp: Path) -> Run:
    result = quantize_model(
        loaded,
        tmp / "edgeres.onnx",
        QuantizeSettings(calib=recipe(args.shared), target=args.target, optimize=args.optimize, force=True),
    )
    return _ort(result.path)


def _quantize_all(
    args: argparse.Namespace, loaded: LoadedModel, fp32: Path, calib: np.ndarray, tmp: Path
) -> tuple[dict[str, Run], dict[str, float]]:
    """fp32 and each int8 variant, with the seconds each quantization took."""
    makers: dict[str, Callable[[], Run]] = {
        "NNCF ONNX (onnxruntime)": lambda: _nncf_onnx(fp32, calib, tmp / "nncf.onnx"),
        "NNCF OpenVINO": lambda: _nncf_openvino(fp32, calib),
        f"edgeres --optimize {args.optimize} (onnxruntime)": lambda: _edgeres(args, loaded, tmp),
    }
    runs, seconds = {"fp32": _ort(fp32)}, {}
    for label, make in makers.items():
        start = time.perf_counter()
        runs[label] = make()
        seconds[label] = round(time.perf_counter() - start, 1)
    return runs, seconds


def _score(runs: dict[str, Run], test: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[float, float]]:
    """Top-1 and agreement with `fp32` of each run."""
    preds = {name: np.concatenate([run(x).argmax(1) for x, _ in test]) for name, run in runs.items()}
    labels = np.concatenate([y for _, y in test])
    return {name: (float((p == labels).mean()), float((p == preds["fp32"]).mean())) for name, p in preds.items()}


def main() -> None:
    parser = make_parser(__doc__, "peer_nncf.json")
    parser.add_argument("--target", default="x86")
    parser.add_argument("--optimize", default="best")
    parser.add_argument("--checkpoints", default=",".join(CHECKPOINTS))
    args = parser.parse_args()
    data = args.shared / "datasets" / "cifar10"
    header = {**machine_header(), **{p: version(p) for p in ("nncf", "openvino", "onnxruntime")}}
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.checkpoints.split(","):
            loaded = load_model(args.shared / "checkpoints" / name)
            fp32 = export_model(loaded, Path(tmp) / "fp32.onnx", force=True).path
            drawn = recipe(args.shared)  # the images edgeres calibrates on, for NNCF too
            calib = calibration_set(drawn.data, loaded.card, num=drawn.num, seed=drawn.seed, split=drawn.split).inputs
            images = open_images(data / "test")
            test = [(b.x, b.y) for b in iter_batches(images, loaded.card, np.arange(len(images)), batch_size=250)]
            runs, seconds = _quantize_all(args, loaded, fp32, calib, Path(tmp))
            for label, (top1, agreement) in _score(runs, test).items():
                row = {"checkpoint": name, "int8": label, "top1": round(top1, 4), "agreement": round(agreement, 4)}
                rows.append({**row, "quantize_s": seconds.get(label, "")})
                print(json.dumps(rows[-1]), flush=True)
            args.json.write_text(json.dumps({"machine": header, "target": args.target, "rows": rows}, indent=2))
    print_rows(f"int8 vs fp32, full CIFAR-10 test split, {header['cpu']}", rows, width=180)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
