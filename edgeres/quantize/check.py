"""A label-free check of an int8 file against its fp32 source on images calibration never saw.

It runs on this machine's CPU, so a file whose int8 kernels saturate here (edgeres.isa) shows it at once,
even when no labeled data was given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..export.base import get_exporter
from ..finite import finite_outputs
from ..isa import local_cpu

# Below this top-1 agreement with fp32 the int8 file is probably broken, not merely approximate: good int8
# ResNets agree on 97-99.5% of images, and a file saturating on an AVX2-only CPU agreed on
# 86.5% (resnet18_cifar10, docs/benchmarks.md).
LOW_AGREEMENT = 0.95
SQNR_CAP_DB = 200.0  # identical outputs: a finite number that JSON can hold


@dataclass
class HeldOutCheck:
    n: int
    agreement: float
    sqnr_db: float
    cpu: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def warning(self) -> str | None:
        """One line when the agreement is low enough to suspect the file (or this CPU's kernels)."""
        if self.agreement >= LOW_AGREEMENT:
            return None
        return (
            f"int8 agrees with fp32 on only {self.agreement:.1%} of {self.n} held-out calibration images (output "
            f"SQNR {self.sqnr_db:.1f} dB) on this CPU, {self.cpu}; measure accuracy with --eval, try --auto-fallback, "
            "and on x86 CPUs without VNNI quantize with --target x86"
        )


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of `approx` against `reference`, in dB."""
    signal = float(np.sum(np.square(reference, dtype=np.float64)))
    noise = float(np.sum(np.square(reference.astype(np.float64) - approx)))
    if noise == 0.0:
        return SQNR_CAP_DB
    return min(SQNR_CAP_DB, 10.0 * float(np.log10(max(signal, 1e-30) / noise)))


def held_out_check(fmt: str, fp32: Path, int8: Path, inputs: np.ndarray) -> HeldOutCheck | None:
    """Agreement and output SQNR of `int8` against `fp32` on `inputs` (NCHW); None without inputs."""
    if not len(inputs):
        return None
    exporter = get_exporter(fmt)
    predictors = [exporter.open(fp32), exporter.open(int8)]
    try:
        reference = finite_outputs(predictors[0].predict(inputs), fp32)
        approx = finite_outputs(predictors[1].predict(inputs), int8)
    finally:
        for predictor in predictors:
            predictor.close()
    agreement = float(np.mean(reference.argmax(1) == approx.argmax(1)))
    return HeldOutCheck(len(inputs), agreement, sqnr_db(reference, approx), local_cpu().describe())


def held_out_sqnr(fmt: str, fp32: Path, int8: Path, inputs: np.ndarray) -> float:
    """Output SQNR of `int8` against `fp32` on `inputs` (not empty): the score range search and per-layer
    precision choose by."""
    check = held_out_check(fmt, fp32, int8, inputs)
    assert check is not None, "callers measure only when there are held-out images"
    return check.sqnr_db
