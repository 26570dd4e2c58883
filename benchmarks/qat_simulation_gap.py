"""How much of what QAT trained the int8 file keeps: top-1 agreement with fp32 of the simulated model (PyTorch,
every engine tensor rounded as QAT rounds it) and of the file the engine wrote from it, and of the two with
each other, on test images.

Usage: python benchmarks/qat_simulation_gap.py [--shared ../shared] [--formats onnx,tflite,pte]
       [--checkpoint resnet20-12fca82f.th] [--optimize fast] [--images 3000] [--qat-limit 10000]
       [--json qat_simulation_gap.json]
The simulated model is QAT's own, just before its grid comes off (quantize's `file_agrees_with_simulation`
compares the same two on 128 held-out calibration images); here it is scored on `--images` test images drawn
with seed 0. Where the file and its simulation disagree, the engine's integer kernels compute something QAT did
not train: agreement that no training can buy back.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _table import machine_header, print_rows, recipe
from _table import parser as make_parser

import edgeres.quantize.qat.step as step
from edgeres.data import open_images
from edgeres.data.batches import iter_batches
from edgeres.export.base import get_exporter
from edgeres.models import load_model
from edgeres.quantize import QuantizeSettings
from edgeres.quantize.calibration_recipes import resolve_calibration
from edgeres.quantize.engine import Int8Job, open_engine
from edgeres.quantize.qat.settings import QatSettings
from edgeres.quantize.recipes import recipe_for
from edgeres.quantize.source import prepare_source


def _row(fmt: str, args: Any, test: np.ndarray, folder: Path) -> dict[str, Any]:
    target = "x86-vnni"
    qat = QatSettings(data=args.shared / "datasets" / "cifar10" / "train", epochs=1, limit=args.qat_limit)
    settings = QuantizeSettings(calib=recipe(args.shared), target=target, qat=qat, optimize=args.optimize)
    chosen = recipe_for(fmt, target)
    loaded = load_model(args.shared / "checkpoints" / args.checkpoint)
    source = prepare_source(loaded, chosen, resolve_calibration(settings.calib), settings, folder, lambda *_: None)
    assert source.loaded is not None and source.original is not None
    source.calibration.held_out = test  # QAT keeps its simulated model's logits on these
    job = Int8Job(source.file, chosen, source.calibration, source.card, folder / "cache", source.loaded.model)
    engine = open_engine(job)
    int8 = folder / f"int8.{fmt}"
    engine.quantize(int8, [])
    _, outcome, _ = step.requantize_after_qat(
        engine, chosen, int8, source, [], qat, folder / f"out.{fmt}", folder, lambda *_: None, check_images=len(test)
    )
    predictor = get_exporter(fmt).open(int8)
    try:
        file = predictor.predict(test).argmax(1)
    finally:
        predictor.close()
    simulated = outcome.simulated_logits.argmax(1)
    with torch.no_grad():
        fp32 = source.original.model.eval()(torch.from_numpy(test)).numpy().argmax(1)
    return {
        "checkpoint": args.checkpoint, "format": fmt, "optimize": args.optimize, "images": len(test),
        "simulated_vs_fp32": round(float(np.mean(simulated == fp32)), 4),
        "file_vs_fp32": round(float(np.mean(file == fp32)), 4),
        "file_vs_simulated": round(float(np.mean(file == simulated)), 4),
    }  # fmt: skip


def main() -> None:
    parser = make_parser(__doc__, "qat_simulation_gap.json")
    parser.add_argument("--formats", default="onnx,tflite,pte")
    parser.add_argument("--checkpoint", default="resnet20-12fca82f.th")
    parser.add_argument("--optimize", default="fast")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--qat-limit", type=int, default=10000)
    args = parser.parse_args()
    header, rows = machine_header(), []
    card = load_model(args.shared / "checkpoints" / args.checkpoint).card
    images = open_images(args.shared / "datasets" / "cifar10" / "test")
    drawn = np.random.default_rng(0).permutation(len(images))[: args.images]
    test = np.concatenate([batch.x for batch in iter_batches(images, card, drawn)])
    for fmt in args.formats.split(","):
        with tempfile.TemporaryDirectory() as folder:
            rows.append(_row(fmt, args, test, Path(folder)))
        print(json.dumps(rows[-1]), flush=True)
        args.json.write_text(json.dumps({"machine": header, "rows": rows}, indent=2))
    print_rows(f"QAT's simulated model and its int8 file against fp32, {header['cpu']}", rows)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
