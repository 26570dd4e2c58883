"""Per-layer precision: the layers that touch the float world get wider activations when that measures better.

The image entering the first conv and the logits leaving the classifier are where 8-bit activations hurt a
ResNet most: resnet20 (onnxruntime, every tensor in 16 bits but one), output SQNR fell from 33.4 dB to 31.3
with the input alone in 8 bits and to 32.1 with the stem's output alone, more than any other tensor
(docs/benchmarks.md). onnxruntime keeps such a layer's input and output in 16 bits (the layer then runs
in float between them); LiteRT's XNNPACK has no 16x8 kernels, so there the layer stays float. Each candidate is
kept only if the int8 file's output SQNR on held-out images gains at least MIN_GAIN_DB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .check import held_out_sqnr
from .layers import Layer

MIN_GAIN_DB = 0.3


class PrecisionEngine(Protocol):
    layers: list[Layer]
    wide: list[Layer]
    wide_kind: str  # what a wide layer becomes in this engine: "16-bit activations" or engine.WIDE_IN_FLOAT

    def quantize(self, out: Path, exclude: list[Layer]) -> None: ...


@dataclass
class PrecisionChoice:
    kind: str
    tried: dict[str, float] = field(default_factory=dict)  # layer -> held-out SQNR gain (dB)
    kept: list[str] = field(default_factory=list)
    sqnr_db: float = 0.0
    bytes_before: int = 0
    bytes_after: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def candidates(layers: list[Layer], exclude: list[Layer]) -> list[Layer]:
    """The first layer (reads the image) and the last (writes the logits), unless already float."""
    ends = [layers[0], layers[-1]] if len(layers) > 1 else layers[:1]
    return [layer for layer in dict.fromkeys(ends) if layer not in exclude and layer.op not in ("Add", "ADD", "add")]


def choose_precision(
    engine: PrecisionEngine, fmt: str, fp32: Path, out: Path, exclude: list[Layer], held_out: np.ndarray
) -> PrecisionChoice | None:
    """Widen each candidate in turn, keeping it when held-out SQNR gains; `out` ends holding the chosen file.
    None without held-out images to measure on."""
    if not len(held_out):
        return None
    choice = PrecisionChoice(engine.wide_kind, bytes_before=out.stat().st_size)
    best = held_out_sqnr(fmt, fp32, out, held_out)
    for layer in candidates(engine.layers, exclude):
        engine.wide = [*engine.wide, layer]
        engine.quantize(out, exclude)
        gained = held_out_sqnr(fmt, fp32, out, held_out) - best
        choice.tried[layer.name] = round(gained, 2)
        if gained >= MIN_GAIN_DB:
            best += gained
            choice.kept.append(layer.name)
        else:
            engine.wide = engine.wide[:-1]
    if len(choice.kept) < len(choice.tried):  # the file on disk holds the last, rejected trial
        engine.quantize(out, exclude)
    choice.sqnr_db, choice.bytes_after = round(best, 2), out.stat().st_size
    return choice
