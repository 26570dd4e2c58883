"""Every x86 int8 recipe: agreement with fp32 on this CPU and on an AVX2-only CPU, and speed at 32 and 224.

Recipes (onnxruntime QDQ, per-channel weights, percentile ranges, 512 calibration images):
  x86       edgeres's portable recipe: U8S8, weights within +-64 (reduce_range)
  x86-vnni  edgeres's VNNI/AMX recipe: U8S8, full-range weights
  u8u8      uint8 weights too (onnxruntime's non-saturating U8U8 kernels), for the record
  s8s8      symmetric int8 activations (the arm64 recipe), for the record

Accuracy: the three shared checkpoints on the test split, natively and under an AVX2-only CPU (natively
where this CPU is one, else Python under `qemu-x86_64-static -cpu Haswell`: same kernels, no speed).
Speed: resnet18_cifar10 at 32x32 and at 224x224 (card input size overridden), batch 1, 2 threads, p50 over
interleaved rounds on this CPU. Prints a table and writes JSON.

Usage: python benchmarks/x86_recipes.py [--shared ../shared] [--limit N] [--avx2-limit N] [--json FILE]
                                      [--checkpoints NAME...] [--recipes NAME...] [--no-speed]
       python benchmarks/x86_recipes.py predict OUT.npy INPUTS.npy FILE...   (the AVX2 worker)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path

import numpy as np
from _table import print_rows

CHECKPOINTS = ("resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet18_cifar10.pth")
RECIPES = ("x86", "x86-vnni", "u8u8", "s8s8")
THREADS, ROUNDS, RUNS_PER_ROUND, WARMUP = 2, 8, 15, 10


def predict(out: Path, inputs: Path, files: list[str]) -> None:
    """Top-1 class of every input for every file (runs on the AVX2-only CPU)."""
    from edgeres.options import RuntimeOptions
    from edgeres.runtimes.onnxruntime import OrtPredictor

    x = np.load(inputs)
    np.save(out, np.stack([OrtPredictor(f, RuntimeOptions(threads=THREADS)).predict(x).argmax(1) for f in files]))


def avx2_prefix() -> list[str]:
    from edgeres.isa import local_cpu

    cpu = local_cpu()
    if "avx2" in cpu.flags and not cpu.has_vnni and "avx512f" not in cpu.flags:
        return [sys.executable]
    return ["qemu-x86_64-static", "-cpu", "Haswell", sys.executable]


def make_files(checkpoint: Path, work: Path, calib: Path, size: int | None = None) -> dict[str, Path]:
    """fp32 and every recipe's int8 file of one checkpoint."""
    from edgeres.export import export_model
    from edgeres.models import load_model
    from edgeres.options import CardOverrides, LoadOptions
    from edgeres.quantize import QuantizeSettings, quantize_model

    overrides = CardOverrides(input_size=str(size), resize=256) if size else CardOverrides()
    loaded = load_model(checkpoint, LoadOptions(overrides=overrides))
    stem = f"{checkpoint.stem}_{size or 'native'}"
    files = {"fp32": export_model(loaded, work / f"{stem}_fp32.onnx", verify_output=False).path}
    for recipe in ("x86", "x86-vnni"):
        files[recipe] = quantize_model(
            files["fp32"], work / f"{stem}_{recipe}.onnx", QuantizeSettings(calib=calib, target=recipe)
        ).path
    from edgeres.quantize.calibration import calibration_set

    inputs = calibration_set(calib, loaded.card, num=512).inputs
    for recipe in ("u8u8", "s8s8"):
        files[recipe] = work / f"{stem}_{recipe}.onnx"
        _ort_static(files["fp32"], files[recipe], inputs, unsigned_weights=recipe == "u8u8", signed=recipe == "s8s8")
    return files


def _ort_static(fp32: Path, out: Path, inputs: np.ndarray, *, unsigned_weights: bool, signed: bool) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Reader:
        def __init__(self) -> None:
            self.batches = iter([{"input": inputs[i : i + 32]} for i in range(0, len(inputs), 32)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    quantize_static(
        str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8 if signed else QuantType.QUInt8,
        weight_type=QuantType.QUInt8 if unsigned_weights else QuantType.QInt8,
        calibrate_method=CalibrationMethod.Percentile,
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": signed},
    )  # fmt: skip


def labeled_inputs(card: object, test: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    from edgeres.data import iter_batches, open_images, stratified_subset

    images = open_images(test)
    indices = stratified_subset(images.labels, len(images), limit, 0)
    batches = list(iter_batches(images, card, indices, batch_size=256))  # type: ignore[arg-type]
    return np.concatenate([b.x for b in batches]), np.concatenate([b.y for b in batches])  # type: ignore[misc]


def accuracy_rows(files: dict[str, Path], name: str, test: Path, limit: int | None, avx2_limit: int | None) -> list:
    from edgeres.runtimes.onnxruntime import OrtPredictor

    card = OrtPredictor(files["fp32"]).card
    rows = []
    for where, n in (("this CPU", limit), ("AVX2-only CPU", avx2_limit)):
        x, y = labeled_inputs(card, test, n)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "x.npy", x)
            command = [str(Path(tmp) / "p.npy"), str(Path(tmp) / "x.npy"), *map(str, files.values())]
            prefix = [sys.executable] if where == "this CPU" else avx2_prefix()
            subprocess.run([*prefix, __file__, "predict", *command], check=True, stderr=subprocess.DEVNULL)
            top1 = dict(zip(files, np.load(Path(tmp) / "p.npy"), strict=True))
        for recipe in [r for r in files if r != "fp32"]:
            agreement = float(np.mean(top1[recipe] == top1["fp32"]))
            rows.append({"model": name, "cpu": where, "recipe": recipe, "n": len(y), "agreement": round(agreement, 4),
                         "top1": round(float(np.mean(top1[recipe] == y)), 4),
                         "fp32_top1": round(float(np.mean(top1["fp32"] == y)), 4)})  # fmt: skip
    return rows


def speed_rows(files: dict[str, Path], size: int) -> list:
    import onnxruntime as ort

    runs = {}
    x = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32)
    for recipe, path in files.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = THREADS, 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        runs[recipe] = lambda s=session: s.run(None, {"input": x})
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        for _ in range(WARMUP):
            run()
    for _ in range(ROUNDS):
        for name, run in runs.items():
            for _ in range(RUNS_PER_ROUND):
                start = time.perf_counter()
                run()
                samples[name].append(time.perf_counter() - start)
    p50 = {name: float(np.median(v)) * 1e3 for name, v in samples.items()}
    return [
        {
            "input": f"{size}x{size}",
            "recipe": name,
            "p50_ms": round(ms, 3),
            "speedup_vs_fp32": round(p50["fp32"] / ms, 2),
        }
        for name, ms in p50.items()
    ]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "predict":
        predict(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--limit", type=int, help="test images on this CPU (default: the whole split)")
    parser.add_argument("--avx2-limit", type=int, default=2000, help="test images on the AVX2-only CPU")
    parser.add_argument("--checkpoints", nargs="+", default=CHECKPOINTS, choices=CHECKPOINTS, metavar="NAME")
    parser.add_argument("--no-speed", action="store_true", help="accuracy only")
    parser.add_argument("--recipes", nargs="+", default=RECIPES, choices=RECIPES, help="accuracy of these only")
    parser.add_argument("--json", type=Path, default=Path("x86_recipes.json"))
    args = parser.parse_args()
    from edgeres.bench.record import machine_info

    calib, test = args.shared / "datasets/cifar10/train", args.shared / "datasets/cifar10/test"
    accuracy, speed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("EDGERES_CACHE_DIR", str(Path(tmp) / "cache"))
        for name in args.checkpoints:
            files = make_files(args.shared / "checkpoints" / name, Path(tmp), calib)
            chosen = {k: v for k, v in files.items() if k == "fp32" or k in args.recipes}
            accuracy += accuracy_rows(chosen, name, test, args.limit, args.avx2_limit)
            if name.startswith("resnet18") and not args.no_speed:
                speed += speed_rows(files, 32)
                speed += speed_rows(make_files(args.shared / "checkpoints" / name, Path(tmp), calib, 224), 224)
    print_rows("agreement with fp32 (top-1)", accuracy)
    print_rows("speed, resnet18_cifar10, batch 1", speed)
    machine = machine_info()
    record = {"date": date.today().isoformat(), "machine": machine, "accuracy": accuracy, "speed": speed,
              "command": " ".join(sys.argv), "onnxruntime": version("onnxruntime")}  # fmt: skip
    args.json.write_text(json.dumps(record, indent=2))
    print(f"machine: {machine['cpu_model']}, flags {' '.join(machine['cpu_flags'])}; wrote {args.json}")


if __name__ == "__main__":
    main()
