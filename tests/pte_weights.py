"""The int8 weights and int32 biases stored in a .pte's XNNPACK delegates, read back from the file's bytes.

ExecuTorch keeps no public reader for them: the program flatbuffer is parsed with its serializer's
deserialize_pte_binary, each XNNPACK payload's graph flatbuffer is turned to JSON by the flatc ExecuTorch
ships (with the schema it ships), and each per-channel tensor's bytes (and a bias's scales) are looked up in
the file's named data. Private ExecuTorch modules: executorch is pinned in pyproject.toml.
"""

from __future__ import annotations

import json
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np


def _graph(payload: bytes) -> dict[str, Any]:
    """One XNNPACK payload's graph (XNNGraph in backends/xnnpack/serialization/schema.fbs), as JSON."""
    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader
    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    header = XNNHeader.from_bytes(payload[: XNNHeader.EXPECTED_LENGTH])
    schema = resources.files("executorch.backends.xnnpack.serialization").joinpath("schema.fbs").read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "schema.fbs").write_bytes(schema)
        start = header.flatbuffer_offset
        (work / "graph.bin").write_bytes(payload[start : start + header.flatbuffer_size])
        _flatc_decompile(folder, str(work / "schema.fbs"), str(work / "graph.bin"))
        text = (work / "graph.json").read_text()
    return json.loads(re.sub(r"(-?)\binf\b", r"\1Infinity", text))  # flatc writes C's inf


def _graphs(data: bytes) -> list[dict[str, Any]]:
    """Every XNNPACK delegate's graph in the file's bytes, in program order."""
    from executorch.exir._serialize._program import _extract_delegate_payload

    graphs = []
    while (payload := _extract_delegate_payload(data, "xnnpack", len(graphs))) is not None:
        graphs.append(_graph(payload))
    return graphs


def pte_activation_grids(path: Path) -> set[tuple[float, int]]:
    """(scale, zero point) of every per-tensor quantized value in the file's XNNPACK delegates; flatc's JSON
    keeps a scale to 6 decimal places."""
    params = [
        value["xvalue_union"]["quant_params"]
        for graph in _graphs(path.read_bytes())
        for value in graph["xvalues"]
        if value["xvalue_union"].get("quant_params_type") == "PerTensorQuant"
    ]
    return {(float(p["scale"]), int(p["zero_point"])) for p in params}


def _constants(path: Path, datatype: str) -> list[tuple[dict[str, Any], np.ndarray]]:
    """Each constant tensor of `datatype` in the file's XNNPACK delegates: its XNNPACK value (as flatc's JSON)
    and its bytes from the file's named data, as int8 or int32 in XNNPACK's layout."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    data = path.read_bytes()
    named = deserialize_pte_binary(data).named_data
    assert named is not None, f"{path}: no named data (weights kept inside the delegate are not read here)"

    def buffer(graph: dict[str, Any], index: int) -> bytes:
        return bytes(named.buffers[named.pte_data[graph["constant_data"][index]["named_key"]].buffer_index])

    found = []
    for graph in _graphs(data):
        for value in graph["xvalues"]:
            union = value["xvalue_union"]
            tensor = union.get("tensor_value", {})
            if tensor.get("datatype") != datatype or not tensor.get("constant_buffer_idx"):
                continue
            kind = datatype.removeprefix("xnn_datatype_qc")  # int8 or int32
            stored = np.frombuffer(buffer(graph, tensor["constant_buffer_idx"]), kind)
            if datatype.endswith("int32"):  # a bias: its per-channel scales sit in a buffer of their own
                scales = np.frombuffer(buffer(graph, union["quant_params"]["scale_buffer_idx"]), np.float32)
                stored = (stored * scales[: len(stored)]).astype(np.float32)
            found.append((union, stored.reshape(tensor["dims"])))
    return found


def pte_int8_weights(path: Path) -> list[np.ndarray]:
    """Every per-channel int8 tensor (the conv and linear weights) of the file's XNNPACK delegates, laid out
    as PyTorch lays out weights (XNNPACK keeps conv weights channels last)."""
    weights = [raw for _, raw in _constants(path, "xnn_datatype_qcint8")]
    return [raw.transpose(0, 3, 1, 2) if raw.ndim == 4 else raw for raw in weights]


def pte_int32_biases(path: Path) -> list[np.ndarray]:
    """Every per-channel int32 bias of the file's XNNPACK delegates, as float32 values: integers times scales."""
    return [values for _, values in _constants(path, "xnn_datatype_qcint32")]
