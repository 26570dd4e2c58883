"""ONNX latency probes, written with onnx.helper: milliseconds, where an export through torch takes seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..runtimes.embedded import IoSpec, metadata_entries
from .layers import ConvShape
from .probes import probe_card, quantize_probe
from .setting import LatencySetting


class OnnxProbes:
    suffix = ".onnx"

    def conv(self, shape: ConvShape, cin: int, cout: int, out: Path, setting: LatencySetting) -> Path:
        from onnx import helper, numpy_helper

        rng = np.random.default_rng(cin * 1000 + cout)
        groups = shape.groups_at(cin)
        weight = rng.standard_normal((cout, cin // groups, *shape.kernel)).astype(np.float32) * 0.1
        conv = helper.make_node(
            "Conv",
            ["input", "w", "b"],
            ["c"],
            kernel_shape=list(shape.kernel),
            strides=list(shape.stride),
            pads=[*shape.padding, *shape.padding],
            dilations=list(shape.dilation),
            group=groups,
        )
        initializers = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.zeros(cout, np.float32), "b")]
        nodes = [conv, helper.make_node("Relu", ["c"], ["logits"])]
        return self._finish(shape, cin, cout, nodes, initializers, out, setting)

    def null(self, shape: ConvShape, cin: int, out: Path, setting: LatencySetting) -> Path:
        from onnx import helper

        return self._finish(shape, cin, cin, [helper.make_node("Relu", ["input"], ["logits"])], [], out, setting)

    def _finish(
        self,
        shape: ConvShape,
        cin: int,
        cout: int,
        nodes: list[Any],
        initializers: list[Any],
        out: Path,
        setting: LatencySetting,
    ) -> Path:
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            nodes,
            "probe",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, cin, shape.height, shape.width])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
            initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 9  # what every supported onnxruntime reads
        card, io = probe_card(shape, cout), IoSpec("onnx", batch=1)
        for key, value in metadata_entries(card, io).items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        fp32 = out.with_name(out.stem + "-fp32.onnx") if setting.precision == "int8" else out
        onnx.save(model, str(fp32))
        if setting.precision == "int8":
            quantize_probe(fp32, out, setting, card, cin)
        return out


PROBES = OnnxProbes()
