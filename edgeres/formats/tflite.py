"""TFLite (LiteRT): a flatbuffer from litert-torch, int8 by ai-edge-quantizer on the fp32 file.

ai-edge-quantizer's full int8 on the fp32 .tflite ran resnet18 at 224 3.02x faster than fp32, ahead of
litert-torch's own PT2E int8 path (2.83x, and int8-only input; docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import Format, Int8Support, Signature
from .xnnpack_kernels import XnnpackKernels


@dataclass(frozen=True)
class LiteRtFullInt8(XnnpackKernels):
    """ai-edge-quantizer static int8 (weights and activations) on the fp32 .tflite from the export stage.

    Same recipe for every target: XNNPACK runs int8 kernels on x86 and ARM alike. `io` "float" keeps a
    float32 interface (one QUANTIZE in, one DEQUANTIZE out); "int8" gives integer-only I/O for
    accelerators and apps that feed camera bytes.
    """

    target: str
    io: str = "float"
    method: str = "minmax"
    format: str = "tflite"
    engine: str = "ai_edge_quantizer static_wi8_ai8"


def recipe(target: str, method: str, io: str) -> LiteRtFullInt8:
    return LiteRtFullInt8(target, io, method)


FORMAT = Format(
    name="tflite",
    title="TFLite",
    suffix=".tflite",
    signature=Signature(4, b"TFL3"),  # the flatbuffer's file identifier
    exporter="edgeres.export.tflite:TfliteExporter",
    packages=("litert-torch", "litert-converter", "ai-edge-litert"),
    int8=Int8Support(
        engine="edgeres.quantize.tflite_engine:TfliteInt8Engine",
        recipe=recipe,
        methods=("minmax", "mse"),
        packages=("ai-edge-quantizer", "ai-edge-litert"),
        ios=("float", "int8"),
        qat="edgeres.quantize.tflite_qat:TfliteQatGrid",
    ),
    probes="edgeres.latency.tflite_probes:PROBES",
    pipeline_default=True,
)
