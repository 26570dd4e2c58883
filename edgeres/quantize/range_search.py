"""Per-tensor activation range search: MSE-optimal ranges from histograms, kept only when they measure better.

The engines' own calibration (percentile for onnxruntime, min/max for ai-edge-quantizer) picks each
tensor's range from its extremes. The range that minimizes the expected quantization error, clipping plus
rounding, is often narrower: a few outliers are worth clipping when every other value gains resolution. Which
choice is better for a model is measured, not assumed: both int8 files are scored against the float model
on held-out calibration images (output SQNR), and the better one is kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .check import held_out_sqnr
from .layers import Layer

FRACTIONS = np.linspace(0.2, 1.0, 161)  # candidate ranges, as fractions of the observed extremes


@dataclass(frozen=True)
class Histogram:
    counts: np.ndarray
    edges: np.ndarray  # len(counts) + 1
    lo: float  # observed extremes
    hi: float


class RangeEngine(Protocol):
    ranges: dict[str, tuple[float, float]] | None

    def histograms(self) -> dict[str, Histogram]: ...

    def quantize(self, out: Path, exclude: list[Layer]) -> None: ...


@dataclass
class RangeChoice:
    chosen: str  # "engine" (the recipe's own calibration) or "mse"
    sqnr_db: dict[str, float]  # held-out output SQNR of each candidate
    tensors: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mse_range(hist: Histogram, symmetric: bool) -> tuple[float, float]:
    """The range whose 8-bit grid gives the least expected squared error over the histogram."""
    centers = (hist.edges[:-1] + hist.edges[1:]) / 2
    weights = hist.counts.astype(np.float64)
    lo, hi = min(hist.lo, 0.0), max(hist.hi, 0.0)
    if symmetric:
        lo, hi = -max(-lo, hi), max(-lo, hi)
    if hi - lo <= 0 or weights.sum() == 0:
        return hist.lo, hist.hi
    best, best_error = (lo, hi), np.inf
    for fraction in FRACTIONS:
        a, b = lo * fraction, hi * fraction
        step = (b - a) / (254 if symmetric else 255)
        clipped = np.clip(centers, a, b)
        error = float(np.sum(weights * ((centers - clipped) ** 2 + (centers == clipped) * step * step / 12)))
        if error < best_error:
            best, best_error = (a, b), error
    return best


def search_ranges(
    engine: RangeEngine,
    fmt: str,
    fp32: Path,
    out: Path,
    exclude: list[Layer],
    held_out: np.ndarray,
    symmetric: bool,
) -> RangeChoice | None:
    """Quantize with the engine's ranges and with MSE ranges, keep the better (the engine is left set to it
    and `out` holds its file). None without held-out images to measure on: the engine's ranges stay."""
    if not len(held_out):
        return None
    candidates: dict[str, dict[str, tuple[float, float]] | None] = {"engine": None}
    candidates["mse"] = {name: mse_range(hist, symmetric) for name, hist in engine.histograms().items()}
    scores = {}
    for name, ranges in candidates.items():
        engine.ranges = ranges
        engine.quantize(out, exclude)
        scores[name] = round(held_out_sqnr(fmt, fp32, out, held_out), 2)
    chosen = max(scores, key=lambda name: scores[name])
    engine.ranges = candidates[chosen]
    if chosen != list(candidates)[-1]:
        engine.quantize(out, exclude)
    return RangeChoice(chosen, scores, len(candidates["mse"] or {}))
