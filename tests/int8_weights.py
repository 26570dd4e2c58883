"""The int8 weights an ONNX QDQ file or a .tflite stores, as integers (the .pte's: pte_weights.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def onnx_int8_weights(path: Path) -> list[np.ndarray]:
    """Each conv and linear weight of a QDQ file as its stored int8 integers."""
    model = onnx.load(str(path))
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    return [
        constants[node.input[0]]
        for node in model.graph.node
        if node.op_type == "DequantizeLinear" and constants.get(node.input[0], np.zeros(0)).dtype == np.int8
    ]


def tflite_int8_weights(path: Path) -> list[np.ndarray]:
    """Each per-channel int8 tensor of a .tflite (its weights), as the interpreter reads it, laid out OIHW."""
    from ai_edge_litert.interpreter import Interpreter

    file = Interpreter(model_path=str(path))
    weights = [file.get_tensor(t["index"]) for t in file.get_tensor_details()
               if t["dtype"] == np.int8 and len(t["quantization_parameters"]["scales"]) > 1]  # fmt: skip
    return [w.transpose(0, 3, 1, 2) if w.ndim == 4 else w for w in weights]


def onnx_int32_biases(path: Path) -> list[np.ndarray]:
    """Each int32 bias of a QDQ file as the float32 values its DequantizeLinear computes."""
    model = onnx.load(str(path))
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    return [
        (constants[node.input[0]] * constants[node.input[1]]).astype(np.float32)
        for node in model.graph.node
        if node.op_type == "DequantizeLinear" and constants.get(node.input[0], np.zeros(0)).dtype == np.int32
    ]


def tflite_int32_biases(path: Path) -> list[np.ndarray]:
    """Each int32 bias of a .tflite as float32 values: its integers times their per-channel scales."""
    from ai_edge_litert.interpreter import Interpreter

    file = Interpreter(model_path=str(path))
    return [
        (file.get_tensor(t["index"]) * t["quantization_parameters"]["scales"]).astype(np.float32)
        for t in file.get_tensor_details()
        if t["dtype"] == np.int32 and len(t["quantization_parameters"]["scales"])
    ]
