"""Int8 accuracy on the full CIFAR-10 test split, per preparation technique: fp32 vs int8 top-1 and agreement.

Usage: python benchmarks/int8_accuracy.py [--shared ../shared] [--target x86] [--techniques none,fast,best]
       [--checkpoints resnet20-12fca82f.th,...] [--seeds 0,1,2] [--qat EPOCHS [--qat-limit N]]
       [--json int8_accuracy.json]
Calibration: the shipped recipe cifar10-train-512 (512 class-stratified train images, seed 0; `--seeds` draws
others: which 512 images calibrate moves agreement by up to 0.2 pp, so one draw cannot settle a 0.05 pp
question). Evaluation: all 10,000 test images, fp32 and int8 scored by the same runtime on the same batches.
With --qat, each file is also fine-tuned on the int8 grid (quantization-aware, on the train split or N of its
images) after its preparation: the row's `qat_seconds` is that training's time on this machine's CPU.
Rows are written to the JSON as they finish.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

from _table import machine_header, print_rows, recipe
from _table import parser as make_parser

from edgeres.quantize import QuantizeSettings, quantize_model
from edgeres.quantize.prepare.optimize import Techniques
from edgeres.quantize.qat.settings import QatSettings

CHECKPOINTS = ("resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet18_cifar10.pth")
# One column per technique alone, then the levels that combine them.
TECHNIQUES = {
    "none": Techniques(),
    "equalize+bias": Techniques(equalize=True, bias_correction=True),
    "weight clipping": Techniques(weight_clipping=True),
    "range search": Techniques(range_search=True),
    "wider ends": Techniques(mixed_precision=True),
    "fast": Techniques.level("fast"),
    "best": Techniques.level("best"),
    "best-no-equalize": dataclasses.replace(Techniques.level("best"), equalize=False),  # not a default: a check
}


def _row(name: str, fmt: str, technique: str, seed: int, result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    acc = result.accuracy
    return {
        "checkpoint": name,
        "format": fmt,
        "target": result.recipe.target,
        "technique": technique,
        "seed": seed,
        "fp32_top1": round(acc.fp32_top1, 4),
        "int8_top1": round(acc.int8_top1, 4),
        "drop_pp": round(acc.drop_pp, 2),
        "agreement": round(acc.agreement, 4),
        "ranges": result.ranges and result.ranges["chosen"],
        "wider": ",".join(result.precision["kept"]) if result.precision else "",
        "int8_kb": round(result.int8_bytes / 1e3),
        "seconds": round(result.seconds, 1),
        "qat_epochs": len(result.qat["log"]["epochs"]) if result.qat else 0,
        "qat_images": result.qat["log"]["images"] if result.qat else 0,
        "qat_seconds": result.qat["seconds"] if result.qat else 0,
        "qat_mixup": result.qat["mixup"] if result.qat else 0,
    }


def main() -> None:
    parser = make_parser(__doc__, "int8_accuracy.json")
    parser.add_argument("--target", default="x86")
    parser.add_argument("--formats", default="onnx,tflite")
    parser.add_argument("--techniques", default=",".join(TECHNIQUES))
    parser.add_argument("--checkpoints", default=",".join(CHECKPOINTS))
    parser.add_argument("--seeds", default="0", help="calibration draws (the recipe's seed is 0)")
    parser.add_argument("--qat", type=int, default=0, help="QAT epochs after preparation (0: none)")
    parser.add_argument("--qat-limit", type=int, help="QAT on a class-stratified subset of the train split")
    parser.add_argument("--qat-learn-scales", action="store_true", help="QAT trains activation scales too (LSQ)")
    parser.add_argument("--qat-mixup", type=float, default=QatSettings.mixup, help="QAT's mixup alpha (0: none)")
    args = parser.parse_args()
    data = args.shared / "datasets" / "cifar10"
    header = machine_header()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.checkpoints.split(","):
            for fmt in args.formats.split(","):
                for technique in args.techniques.split(","):
                    for seed in [int(x) for x in args.seeds.split(",")]:
                        result = quantize_model(
                            args.shared / "checkpoints" / name,
                            Path(tmp) / f"int8.{fmt}",
                            QuantizeSettings(
                                calib=dataclasses.replace(recipe(args.shared), seed=seed),
                                target=args.target,
                                eval_data=data / "test",
                                optimize=TECHNIQUES[technique],
                                force=True,
                                qat=QatSettings(
                                    data=data / "train",
                                    epochs=args.qat,
                                    limit=args.qat_limit,
                                    learn_scales=args.qat_learn_scales,
                                    mixup=args.qat_mixup,
                                )
                                if args.qat
                                else None,
                            ),
                        )
                        rows.append(_row(name, fmt, technique, seed, result))
                        print(json.dumps(rows[-1]), flush=True)
                        args.json.write_text(json.dumps({"machine": header, "rows": rows}, indent=2))
    print_rows(f"int8 vs fp32, full CIFAR-10 test split (10,000 images), {header['cpu']}", rows, width=200)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
