"""What QAT needs from ai-edge-quantizer's int8 .tflite files: the grid of every quantized tensor, the float
values of those tensors, and the ranges that make the quantizer write those grids again for the fine-tuned model.

The int8 file keeps the fp32 file's tensor names (its QUANTIZE at the input adds one tensor, whose grid is
the float input's); activations are per-tensor asymmetric int8, channels last inside the graph (QAT matches
tensors by value in either layout, graph.same_values).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .engine import Int8Engine
from .qat.simulate import ActivationGrid, kept_grid_source

# Ops that move or pick values without computing new ones: XNNPACK keeps their input's grid on their output.
_PASSTHROUGH = {
    "PAD", "PADV2", "STRIDED_SLICE", "SLICE", "RESHAPE", "TRANSPOSE", "MAX_POOL_2D", "CONCATENATION", "SQUEEZE",
}  # fmt: skip


def _interpreter(path: Path, keep_all: bool = False) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):  # keeping all tensors warns
        warnings.simplefilter("ignore", UserWarning)
        return Interpreter(model_path=str(path), experimental_preserve_all_tensors=keep_all)


def _quantized_output(tensor: dict[str, Any]) -> ActivationGrid | None:
    """A per-tensor int8 grid, or None for a float tensor (or a per-channel one, which no activation has)."""
    params = tensor["quantization_parameters"]
    if tensor["dtype"] != np.int8 or len(params["scales"]) != 1:
        return None
    limits = np.iinfo(np.int8)
    return ActivationGrid(float(params["scales"][0]), int(params["zero_points"][0]), int(limits.min), int(limits.max))


class TfliteQatGrid:
    """The QAT view of one fp32 .tflite and the int8 .tflite ai-edge-quantizer made from it."""

    def __init__(self, fp32: Path, int8: Path, _engine: Int8Engine | None = None) -> None:
        self.fp32 = fp32
        quantized = _interpreter(int8)
        tensors = {t["index"]: t for t in quantized.get_tensor_details()}
        self.grids: dict[str, ActivationGrid] = {}
        for op in quantized._get_ops_details():
            if op["op_name"] == "DEQUANTIZE":
                continue
            for index in op["outputs"]:
                grid = _quantized_output(tensors[index])
                if grid is not None:  # a QUANTIZE's grid is its float input's
                    at = op["inputs"][0] if op["op_name"] == "QUANTIZE" else index
                    self.grids[tensors[at]["name"]] = grid
        float_model = _interpreter(fp32)
        self._producers = {
            float_model.get_tensor_details()[op["outputs"][0]]["name"]: (op["op_name"], op["inputs"])
            for op in float_model._get_ops_details()
            if len(op["outputs"])
        }
        self._names = {t["index"]: t["name"] for t in float_model.get_tensor_details()}

    def float_values(self, names: list[str], inputs: np.ndarray) -> dict[str, np.ndarray]:
        """The fp32 file's values of tensors `names` for `inputs` (NCHW images, laid out as the file takes them)."""
        interpreter = _interpreter(self.fp32, keep_all=True)
        interpreter.allocate_tensors()
        entry = interpreter.get_input_details()[0]
        batch = int(entry["shape"][0]) or 1
        laid_out = inputs.transpose(0, 2, 3, 1) if tuple(entry["shape"][1:]) != inputs.shape[1:] else inputs
        index = {t["name"]: t["index"] for t in interpreter.get_tensor_details()}
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for start in range(0, len(inputs) - batch + 1, batch):
            interpreter.set_tensor(entry["index"], np.ascontiguousarray(laid_out[start : start + batch]))
            interpreter.invoke()
            for name in names:
                parts[name].append(interpreter.get_tensor(index[name]).copy())
        return {name: np.concatenate(values) for name, values in parts.items()}

    def source(self, name: str) -> str | None:
        """The tensor whose grid tensor `name` keeps, when an op that only moves values made it from that one
        (an option-A shortcut's STRIDED_SLICE and PAD, the PADV2 before a max pool); None otherwise."""
        op, inputs = self._producers.get(name, ("", []))
        first = self._names[inputs[0]] if len(inputs) else None
        return kept_grid_source(self.grids, name, op, first, _PASSTHROUGH)

    def ranges(self, engine: Int8Engine, grids: dict[str, ActivationGrid]) -> dict[str, tuple[float, float]]:
        """Ranges from which ai-edge-quantizer derives exactly `grids`; the other tensors keep their calibration."""
        return {name: grid.observed_range() for name, grid in grids.items()}
