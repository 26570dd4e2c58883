"""ONNX: one self-contained protobuf file (torch.onnx's dynamo exporter), int8 by onnxruntime's QDQ quantizer.

onnxruntime QDQ int8 on resnet18 at 224 (AVX-512 VNNI, batch 1, 2 threads; docs/benchmarks.md): its default
settings were 1.05x faster than fp32 (4.8x *slower* at 32x32); uint8 activations with per-channel int8
weights (the x86 recipes below) 2.96x faster.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..isa import NEEDS_VNNI, NO_ASSUMPTION, IsaAssumption
from .registry import Format, Int8Support, Signature


@dataclass(frozen=True)
class OrtQdqInt8:
    """onnxruntime QDQ int8: per-channel symmetric int8 weights, calibrated activations.

    x86: uint8 activations (U8S8) hit the VNNI/AVX2 u8*s8 kernels; int8 activations there fall back to slow
    paths. Portable x86 files keep weights within +-64 (`weight_bits` 7, onnxruntime's reduce_range), so that
    CPUs without VNNI cannot saturate. arm64 and generic: symmetric int8 activations (S8S8), which ARM's sdot
    kernels and GPU/TensorRT execution providers expect.
    """

    target: str
    activations: str
    weight_bits: int = 8
    method: str = "percentile"  # resnet18_cifar10, 2000 test images: 0.15 pp drop vs 0.50 pp with minmax
    per_channel: bool = True
    format: str = "onnx"
    engine: str = "onnxruntime.quantization.quantize_static"

    @property
    def isa(self) -> IsaAssumption:
        """Full-range int8 weights need VNNI/AMX on x86 (S8S8 too: x86 kernels run it as u8*s8)."""
        return NO_ASSUMPTION if self.weight_bits <= 7 else NEEDS_VNNI

    @property
    def weight_qmax(self) -> int:
        return 64 if self.weight_bits == 7 else 127

    @property
    def weight_min_scale(self) -> float:
        return 0.0

    @property
    def symmetric_activations(self) -> bool:
        return self.activations == "int8"


def recipe(target: str, method: str, io: str) -> OrtQdqInt8:
    """U8S8 on x86 (`x86` with weights within +-64, `x86-vnni` full range), S8S8 elsewhere."""
    if target.startswith("x86"):
        return OrtQdqInt8(target, "uint8", 7 if target == "x86" else 8, method)
    return OrtQdqInt8(target, "int8", 8, method)


FORMAT = Format(
    name="onnx",
    title="ONNX",
    suffix=".onnx",
    signature=Signature(0, b"\x08"),  # ModelProto's first field, ir_version (field 1, varint)
    exporter="edgeres.export.onnx:OnnxExporter",
    packages=("onnx", "onnxscript", "onnx-ir"),
    int8=Int8Support(
        engine="edgeres.quantize.onnx_engine:OnnxInt8Engine",
        recipe=recipe,
        methods=("percentile", "minmax", "entropy"),
        packages=("onnxruntime", "onnx"),
        qat="edgeres.quantize.onnx_qat:OnnxQatGrid",
    ),
    probes="edgeres.latency.onnx_probes:PROBES",
    pipeline_default=True,
)
