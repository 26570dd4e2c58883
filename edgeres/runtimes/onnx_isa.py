"""Which CPUs an ONNX int8 graph assumes, read from its weights rather than from what it says of itself.

This covers int8 files made by other tools or older edgeres versions: int8 weights beyond +-64 feeding a
matrix product (QDQ or QOperator form) need VNNI/AMX on x86 (edgeres.isa). Needs the `onnx` package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..isa import NEEDS_VNNI, NO_ASSUMPTION, SAFE_WEIGHT_MAGNITUDE, IsaAssumption

# op -> index of its weight input; for QDQ graphs the float op's weight comes from a DequantizeLinear.
_FLOAT_OPS = {"Conv": 1, "Gemm": 1, "MatMul": 1, "ConvTranspose": 1}
_QUANT_OPS = {"QLinearConv": 3, "QLinearMatMul": 3, "ConvInteger": 1, "MatMulInteger": 1, "QGemm": 3}
_INT8 = 3  # onnx.TensorProto.INT8


def graph_isa(model: Any) -> IsaAssumption | None:
    """NEEDS_VNNI, NO_ASSUMPTION (int8 weights all within +-64), or None for a graph without int8 weights."""
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    dequantized = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    weights = []
    for node in graph.node:
        index = _FLOAT_OPS.get(node.op_type, _QUANT_OPS.get(node.op_type))
        if index is None or len(node.input) <= index:
            continue
        name = node.input[index]
        name = dequantized.get(name, name) if node.op_type in _FLOAT_OPS else name
        tensor = initializers.get(name)
        if tensor is not None and tensor.data_type == _INT8:
            weights.append(tensor)
    if not weights:
        return None
    largest = max(_max_magnitude(t) for t in weights)
    return NEEDS_VNNI if largest > SAFE_WEIGHT_MAGNITUDE else NO_ASSUMPTION


def _max_magnitude(tensor: Any) -> int:
    raw = tensor.raw_data
    values = np.frombuffer(raw, np.int8) if raw else np.asarray(tensor.int32_data, np.int32)
    return int(np.abs(values.astype(np.int32)).max()) if values.size else 0
