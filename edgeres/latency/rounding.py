"""Channel rounding chosen by measurement: the coarsest multiple whose in-between widths buy nothing.

Measured on an AVX2-only EPYC (onnxruntime 1.32, batch 1, 2 threads, 3x3 conv at 8x8, widths 64 down to 32):
int8 widths off a multiple of 8 ran *slower* than the next multiple up (60 channels 28.3 us, 64: 23.8 us),
while multiples of 8 fell steadily (56: 22.4, 48: 17.9, 40: 16.8); fp32 took the same steps in pairs (60 as 64,
52 as 56). Another CPU or runtime can differ, so each latency model measures its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from .layers import ConvLayer, ConvShape
from .table import LatencyTable

CANDIDATES = (4, 8, 16, 32)
STEP = 4  # the finest width step measured
TOLERANCE = 0.05  # an in-between width must be at least this much faster than the next multiple to count
AGREEMENT = 0.75


@dataclass(frozen=True)
class RoundingChoice:
    multiple: int
    layer: str  # the layer class it was measured on
    curve_us: dict[int, float]  # width -> measured microseconds (in = out channels)


def representative(layers: list[ConvLayer]) -> ConvLayer | None:
    """The costliest conv whose in and out channels match (what pruning narrows on both sides)."""
    square = [layer for layer in layers if layer.cin == layer.cout >= 4 * STEP and layer.shape.groups == 1]

    def macs(layer: ConvLayer) -> tuple[int, int]:
        """MACs, then map size: of equally costly convs the one on the largest map is the least dominated by
        per-call overhead (ResNet stages keep MACs per conv constant)."""
        area = layer.shape.height * layer.shape.width // (layer.shape.stride[0] * layer.shape.stride[1])
        return layer.cin * layer.cout * area * layer.shape.kernel[0] * layer.shape.kernel[1], area

    return max(square, key=macs, default=None)


def choose_rounding(layers: list[ConvLayer], table: LatencyTable) -> RoundingChoice:
    """The largest candidate multiple (at most half the layer's width) whose in-between widths are worthless
    (see `_worthless_between`); STEP when even 8 fails."""
    layer = representative(layers)
    if layer is None:
        return RoundingChoice(STEP, "", {})
    full = layer.cin - layer.cin % STEP
    widths = list(range(full, max(STEP, full // 2) - 1, -STEP))
    shape: ConvShape = layer.shape
    table.ensure((shape, w, w) for w in widths)
    curve = {w: table.get(shape, w, w) for w in widths}
    valid = [r for r in CANDIDATES if r <= full // 2 and _worthless_between(curve, r)]
    return RoundingChoice(max(valid, default=STEP), f"{layer.name} ({shape.key()})", curve)


def _worthless_between(curve: dict[int, float], multiple: int) -> bool:
    """At least AGREEMENT of the widths off `multiple` run no more than TOLERANCE faster than the next multiple
    up (a share, not all, so that one noisy probe does not decide)."""
    verdicts = [
        us >= (1 - TOLERANCE) * curve[above]
        for width, us in curve.items()
        if width % multiple and (above := -(-width // multiple) * multiple) in curve
    ]
    return not verdicts or sum(verdicts) >= AGREEMENT * len(verdicts)
