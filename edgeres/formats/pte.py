"""ExecuTorch (.pte): a program lowered to the XNNPACK delegate, int8 by ExecuTorch's XNNPACKQuantizer (PT2E)."""

from __future__ import annotations

from dataclasses import dataclass

from .registry import Format, Int8Support, Signature
from .xnnpack_kernels import XnnpackKernels

METADATA_METHOD = "edgeres_metadata"  # the card and I/O spec: a constant method returning the entries as JSON


@dataclass(frozen=True)
class XnnpackPt2eInt8(XnnpackKernels):
    """ExecuTorch's XNNPACKQuantizer through PyTorch 2 export quantization (PT2E), lowered to XNNPACK.

    It quantizes the PyTorch program, not an fp32 file: per-channel symmetric int8 weights (+-127) and
    per-tensor int8 activations whose ranges its histogram observers choose by L2 error ("histogram";
    "minmax" takes the observed extremes). XNNPACK widens int8 to 16 bits before multiplying, as for TFLite.
    """

    target: str
    method: str = "histogram"
    format: str = "pte"
    engine: str = "executorch XNNPACKQuantizer (torchao PT2E)"

    weight_min_scale = 2.0**-12  # the quantizer's observers clamp every scale to their eps (not a field)


def recipe(target: str, method: str, io: str) -> XnnpackPt2eInt8:
    return XnnpackPt2eInt8(target, method)


FORMAT = Format(
    name="pte",
    title="ExecuTorch",
    suffix=".pte",
    signature=Signature(4, b"ET12"),  # the flatbuffer's file identifier (ExecuTorch program schema 12)
    exporter="edgeres.export.pte:PteExporter",
    packages=("executorch",),
    int8=Int8Support(
        engine="edgeres.quantize.pte_engine:PteInt8Engine",
        recipe=recipe,
        methods=("histogram", "minmax"),
        packages=("executorch", "torchao", "torch"),
        from_model=True,
        qat="edgeres.quantize.pte_qat:PteQatGrid",
    ),
)
