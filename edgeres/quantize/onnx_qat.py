"""What QAT needs from onnxruntime's QDQ files: the grid of every quantized tensor, the float values of those
tensors, and the ranges that make quantize_static write those grids again for the fine-tuned model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .._io import read_cache_json
from .engine import Int8Engine
from .qat.simulate import ActivationGrid, kept_grid_source

# Ops that move or pick values without computing new ones: their output keeps their input's grid exactly.
_PASSTHROUGH = {"Slice", "Pad", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "MaxPool", "Concat"}


def _load(path: Path) -> Any:
    import onnx

    return onnx.load(str(path))


class OnnxQatGrid:
    """The QAT view of one fp32 ONNX file and the QDQ int8 file onnxruntime made from it."""

    def __init__(self, fp32: Path, int8: Path, _engine: Int8Engine | None = None) -> None:
        from onnx import numpy_helper

        self.fp32, self.model = fp32, _load(fp32)
        quantized = _load(int8)
        constants = {init.name: numpy_helper.to_array(init) for init in quantized.graph.initializer}
        self.grids: dict[str, ActivationGrid] = {}
        for node in quantized.graph.node:
            if node.op_type == "QuantizeLinear" and node.input[0] not in constants:
                scale, zero = constants[node.input[1]], constants[node.input[2]]
                limits = np.iinfo(zero.dtype)  # the zero point's type is the quantized tensor's
                self.grids[node.input[0]] = ActivationGrid(float(scale), int(zero), int(limits.min), int(limits.max))

    def float_values(self, names: list[str], inputs: np.ndarray) -> dict[str, np.ndarray]:
        """The fp32 file's values of tensors `names` (the graph input among them) for `inputs`."""
        import onnx
        import onnxruntime as ort

        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        graph_input = model.graph.input[0].name
        outputs = [name for name in names if name != graph_input]
        del model.graph.output[:]
        model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in outputs)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        values = dict(zip(outputs, session.run(outputs, {graph_input: inputs}), strict=True))
        return {**values, **({graph_input: inputs} if graph_input in names else {})}

    def source(self, name: str) -> str | None:
        """The tensor whose grid tensor `name` keeps, when an op that only moves values made it from that one
        (an option-A shortcut's Slice); None otherwise."""
        producer = next((node for node in self.model.graph.node if name in node.output), None)
        if producer is None:
            return None
        first = producer.input[0] if producer.input else None
        return kept_grid_source(self.grids, name, producer.op_type, first, _PASSTHROUGH)

    def ranges(self, engine: Int8Engine, grids: dict[str, ActivationGrid]) -> dict[str, tuple[float, float]]:
        """Ranges for every tensor onnxruntime calibrates (it needs all of them, also those whose quantization
        it later fuses away), with those of `grids` chosen so that it derives exactly their scale and zero
        point: uint8 [-z*s, (255-z)*s], symmetric int8 [-127s, 127s]."""
        calibrated = dict(engine.ranges or _cached_ranges(engine))
        for name, grid in grids.items():
            if grid.qmin < 0:  # symmetric: onnxruntime takes max(|lo|, |hi|) / 127 (or its 16-bit peer)
                calibrated[name] = (-grid.qmax * grid.scale, grid.qmax * grid.scale)
            else:
                calibrated[name] = (-grid.zero_point * grid.scale, (grid.qmax - grid.zero_point) * grid.scale)
        return calibrated


def _cached_ranges(engine: Int8Engine) -> dict[str, tuple[float, float]]:
    """The ranges onnxruntime's calibration found (its cache, which quantizing has filled)."""
    stored = read_cache_json(engine.cache_path)  # type: ignore[attr-defined]
    data = json.loads(stored["onnxruntime"])["data"] if isinstance(stored, dict) else {}

    def number(value: Any) -> float:
        return float(value["data"] if isinstance(value, dict) else value)

    return {name: (number(entry["lowest"]), number(entry["highest"])) for name, entry in data.items()}
