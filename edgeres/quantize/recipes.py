"""Quantization recipes: one frozen dataclass per engine, chosen per target. Each says why it is the default.

Measured on this project's x86 machine (AVX-512 VNNI), resnet18 at 224, batch 1, 2 threads (see
docs/benchmarks.md): onnxruntime's default int8 settings 1.05x faster than fp32 (4.8x *slower* at 32x32);
this recipe's uint8 activations with per-channel int8 weights 2.96x faster; ai-edge-quantizer's full int8 on
the fp32 .tflite 3.02x faster, ahead of litert-torch's own PT2E int8 path (2.83x, int8-only input).

The x86 targets differ in one thing, the weight range (edgeres.isa says why): `x86` keeps int8 weights
within +-64, which no x86 int8 kernel can saturate, on the same fast u8*s8 kernels; `x86-vnni` uses the
full +-127 for CPUs with VNNI or AMX. resnet18_cifar10, full test split, agreement with fp32 on a VNNI CPU:
99.08% (x86) and 99.22% (x86-vnni); on an AVX2-only CPU the x86-vnni file fell to 86.5% (docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import EdgeresError
from ..isa import CPU_TARGETS, NEEDS_VNNI, NO_ASSUMPTION, IsaAssumption

TARGETS = CPU_TARGETS


class RecipeError(EdgeresError):
    """A recipe option that the chosen engine or target does not offer."""


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


class _XnnpackKernels:
    """Recipes whose files run on XNNPACK's int8 kernels."""

    @property
    def isa(self) -> IsaAssumption:
        """XNNPACK's x86 int8 kernels widen to 16 bits before multiplying: exact on every x86 CPU (measured)."""
        return NO_ASSUMPTION


@dataclass(frozen=True)
class LiteRtFullInt8(_XnnpackKernels):
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


@dataclass(frozen=True)
class XnnpackPt2eInt8(_XnnpackKernels):
    """ExecuTorch's XNNPACKQuantizer through PyTorch 2 export quantization (PT2E), lowered to XNNPACK.

    It quantizes the PyTorch program, not an fp32 file: per-channel symmetric int8 weights (+-127) and
    per-tensor int8 activations whose ranges its histogram observers choose by L2 error ("histogram";
    "minmax" takes the observed extremes). XNNPACK widens int8 to 16 bits before multiplying, as for TFLite.
    """

    target: str
    method: str = "histogram"
    format: str = "pte"
    engine: str = "executorch XNNPACKQuantizer (torchao PT2E)"


Recipe = OrtQdqInt8 | LiteRtFullInt8 | XnnpackPt2eInt8


def embedded_record(recipe: Recipe) -> dict[str, object]:
    """What an int8 file says about how it was made and which CPUs it assumes (its `edgeres.quantization`)."""
    return {"name": type(recipe).__name__, **asdict(recipe), "isa": recipe.isa.to_dict()}


# The first method of each engine is its default.
_ENGINE_METHODS = {
    "onnx": ("percentile", "minmax", "entropy"),
    "tflite": ("minmax", "mse"),
    "pte": ("histogram", "minmax"),
}
INT8_FORMATS = tuple(_ENGINE_METHODS)  # the export formats edgeres quantizes
QUANTIZED_FROM_MODEL = ("pte",)  # engines that quantize the PyTorch program, not an fp32 file of the format


def recipe_for(fmt: str, target: str, method: str | None = None, io: str = "float") -> Recipe:
    """The default recipe for a format and target. Raises RecipeError naming what is offered instead."""
    if target not in TARGETS:
        raise RecipeError(f"unknown --target {target!r}; choose one of {TARGETS}")
    if fmt not in _ENGINE_METHODS:
        offered = " or ".join(_ENGINE_METHODS)
        raise RecipeError(f"int8 {fmt} files are not offered (no int8 engine for {fmt}); choose --format {offered}")
    method = method or _ENGINE_METHODS[fmt][0]
    if method not in _ENGINE_METHODS[fmt]:
        raise RecipeError(f"--method {method} is not offered by the {fmt} engine; choose one of {_ENGINE_METHODS[fmt]}")
    if io not in ("float", "int8"):
        raise RecipeError(f"--io must be float or int8, got {io!r}")
    if fmt == "onnx":
        if io != "float":
            raise RecipeError("--io int8 is for tflite; onnxruntime QDQ models take and return float32")
        if target.startswith("x86"):
            return OrtQdqInt8(target, "uint8", 7 if target == "x86" else 8, method)
        return OrtQdqInt8(target, "int8", 8, method)
    if fmt == "pte":
        if io != "float":
            raise RecipeError("--io int8 is for tflite; ExecuTorch int8 programs take and return float32")
        return XnnpackPt2eInt8(target, method)
    return LiteRtFullInt8(target, io, method)
