"""TFLite export: litert-torch for the float32 graph, ai-edge-quantizer's float casting for fp16 weights."""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from .._quiet import native_stderr_silenced, quiet_litert_converter
from ..card import ModelCard
from ..errors import ExportError
from ..predict import Predictor
from ..runtimes.embedded import IoSpec, metadata_entries
from ..runtimes.tflite_metadata import write_metadata
from .base import ExportWrapper, conversion_error, example_input

quiet_litert_converter()


class TfliteExporter:
    name = "tflite"
    default_layout = "nhwc"  # the mobile convention: camera frames arrive as HxWxC
    default_batch: int | None = 1

    def export(self, model: nn.Module, card: ModelCard, out: Path, io: IoSpec) -> None:
        """Write `out`; raise ExportError when conversion fails."""
        if io.batch is None:
            raise ExportError("TFLite files are exported with a fixed batch; pass --batch N (apps use 1)")
        wrapped = ExportWrapper(model, io.layout).eval()
        try:
            logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)  # litert-torch's enums
            with native_stderr_silenced():
                import litert_torch

                blob = litert_torch.convert(wrapped, (example_input(card, io, io.batch),)).model_content()
        except ImportError:
            raise ExportError("litert-torch is not installed: pip install 'edgeres[export]'") from None
        except Exception as exc:  # the converter raises many types; all mean "cannot convert"
            raise conversion_error("TFLite", model, exc) from None
        if io.precision == "float16":
            blob = _float16_weights(blob)
        out.write_bytes(write_metadata(blob, metadata_entries(card, io)))

    def open(self, path: Path) -> Predictor:
        from ..runtimes.litert import LiteRtPredictor

        return LiteRtPredictor(path)


def _float16_weights(blob: bytes) -> bytes:
    """Store conv/FC weights as float16 (dequantized at load: XNNPACK computes in float32 or fp16)."""
    from ai_edge_quantizer import qtyping, quantizer

    quant = quantizer.Quantizer(blob)
    for op in (qtyping.TFLOperationName.CONV_2D, qtyping.TFLOperationName.FULLY_CONNECTED):
        quant.add_weight_only_config(regex=".*", operation_name=op, num_bits=16, algorithm_key="float_casting")
    result = quant.quantize(enable_progress_report=False)
    if result.quantized_model is None:
        raise ExportError("ai-edge-quantizer returned no model for float16 weights")
    return bytes(result.quantized_model)
