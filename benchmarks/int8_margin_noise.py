"""How much error an int8 file adds to each test image's fp32 top-2 margin, and the top-1 agreement with fp32 an
error of that size predicts: the scale on which an agreement line (99%) is met or missed.

Usage: python benchmarks/int8_margin_noise.py --checkpoint resnet20-12fca82f.th FILE [FILE...]
       [--shared ../shared] [--json int8_margin_noise.json]
The margin is the fp32 winner's lead over the fp32 runner-up; each file's error is that lead in the file's
logits minus fp32's. A Gaussian error of standard deviation sd flips an image of margin m with probability
Phi(-m / sd), so the predicted agreement is 1 - mean(Phi(-m / sd)) over the test split; the table below the files
gives it for a range of sd, and the sd at which it crosses 99%.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from _table import machine_header, print_rows
from _table import parser as make_parser

from edgeres.data import iter_batches, open_images
from edgeres.models import load_model
from edgeres.predict import open_predictor


def _predicted(margins: np.ndarray, sd: float) -> float:
    flips = [0.5 * (1 + math.erf(-m / sd / math.sqrt(2))) for m in margins]
    return 1.0 - float(np.mean(flips))


def main() -> None:
    parser = make_parser(__doc__, "int8_margin_noise.json")
    parser.add_argument("--checkpoint", default="resnet20-12fca82f.th")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    loaded = load_model(args.shared / "checkpoints" / args.checkpoint)
    images = open_images(args.shared / "datasets" / "cifar10" / "test")
    x = np.concatenate([b.x for b in iter_batches(images, loaded.card, np.arange(len(images)), batch_size=500)])
    with torch.no_grad():
        fp32 = np.concatenate([loaded.model.eval()(torch.from_numpy(part)).numpy() for part in np.array_split(x, 20)])
    index, top = np.arange(len(fp32)), fp32.argmax(1)
    runner_up = np.argsort(fp32, 1)[:, -2]
    margins = fp32[index, top] - fp32[index, runner_up]
    rows = []
    for path in args.files:
        predictor = open_predictor(path)
        try:
            logits = np.concatenate([predictor.predict(part) for part in np.array_split(x, 100)])
        finally:
            predictor.close()
        sd = float((logits[index, top] - logits[index, runner_up] - margins).std())
        rows.append({
            "file": path.name, "agreement": round(float((logits.argmax(1) == top).mean()), 4),
            "margin_error_sd": round(sd, 3), "predicted_agreement": round(_predicted(margins, sd), 4),
        })  # fmt: skip
    scale = [{"sd": sd, "predicted_agreement": round(_predicted(margins, sd), 4)} for sd in (0.1, 0.2, 0.3, 0.4, 0.5)]
    crossing = next((sd / 100 for sd in range(5, 100) if _predicted(margins, sd / 100) < 0.99), None)
    record = {
        "machine": machine_header(), "checkpoint": args.checkpoint, "images": len(x),
        "share_of_margins_below_half_a_logit": round(float((margins < 0.5).mean()), 4),
        "sd_where_predicted_agreement_falls_below_99": crossing, "files": rows, "by_sd": scale,
    }  # fmt: skip
    args.json.write_text(json.dumps(record, indent=2))
    print_rows(f"int8 error in the fp32 top-2 margin, {args.checkpoint}, {len(x)} test images", rows)
    print_rows("predicted agreement by margin error sd", scale)
    print(f"predicted agreement falls below 99% at sd {crossing}; wrote {args.json}")


if __name__ == "__main__":
    main()
