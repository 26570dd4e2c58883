"""OpenVINO's own copy of an int8 QDQ ONNX file (Runtime.int8_copy): the same numbers in a graph OpenVINO
compiles faster. Torch-free; onnx is imported when a copy is made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_SHAPE_OPS = ("Reshape", "Flatten", "Squeeze")


def quantize_before_reshapes(model: Any) -> int:
    """Move each QuantizeLinear/DequantizeLinear pair that follows a Reshape/Flatten/Squeeze to before it, so
    the reshape runs on 8-bit values (the pooled features before the classifier). The same numbers; OpenVINO
    then compiles the graph NNCF's own model compiles to (resnet50 at 224: 0.5% faster than NNCF's, 1.5% faster
    than before, measured here), while onnxruntime runs it slower (its Gemm fuses only a DequantizeLinear
    right before it): a file for OpenVINO only. Returns the pairs moved."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    moved = 0
    for q in [n for n in graph.node if n.op_type == "QuantizeLinear"]:
        shape = producers.get(q.input[0])
        dq = next((n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0]), None)
        if shape is None or shape.op_type not in _SHAPE_OPS or dq is None:
            continue
        if _readers(graph, shape.output[0]) != 1 or _readers(graph, q.output[0]) != 1:
            continue
        if not _per_tensor(graph, q):
            continue
        # source -> shape -> Q -> DQ -> readers  becomes  source -> Q -> DQ -> shape -> readers
        q.input[0], shape.output[0] = shape.input[0], dq.output[0]
        dq.output[0] = shape.output[0] + "_before_reshape"
        shape.input[0] = dq.output[0]
        graph.node.remove(shape)
        graph.node.insert(list(graph.node).index(dq) + 1, shape)
        moved += 1
    return moved


def _per_tensor(graph: Any, q: Any) -> bool:
    """Whether `q` has one scale (a per-channel one would not commute with the reshape)."""
    scales = [init for init in graph.initializer if init.name == q.input[1]]
    return len(scales) == 1 and all(d == 1 for d in scales[0].dims)


def openvino_copy(path: Path, out: Path) -> Path:
    """`path` (an int8 QDQ file) with quantize_before_reshapes applied, written to `out`; its metadata kept."""
    import onnx

    model = onnx.load(str(path))
    quantize_before_reshapes(model)
    onnx.save(model, str(out))
    return out


def _readers(graph: Any, tensor: str) -> int:
    return sum(list(node.input).count(tensor) for node in graph.node)
