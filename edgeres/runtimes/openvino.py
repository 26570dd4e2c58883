"""OpenVINO's CPU plugin behind the Predictor protocol, for .onnx files (fp32 and edgeres's int8 QDQ); no torch.

OpenVINO reads ONNX directly but drops its metadata, so the model card is read with the `onnx` package,
which the same check uses to refuse damaged files and external data outside the model's folder.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import ModelFileError, RuntimeMissingError
from ..oneline import gist
from ..options import LoadOptions, RuntimeOptions
from .batching import run_in_chunks, to_layout
from .embedded import card_from_entries, check_image_input, exported_file
from .onnx_isa import graph_isa
from .onnxruntime import check_onnx_file
from .registry import Runtime

RUNTIME = Runtime(
    "openvino",
    "OpenVINO",
    ("onnx",),
    ("openvino",),
    "openvino:OpenVinoPredictor",
    options=("precision",),
    requires=("onnx",),
    int8_copy="openvino_graph:openvino_copy",
)


def _openvino() -> Any:
    try:
        import openvino
    except ImportError:
        raise RuntimeMissingError("OpenVINO is not installed: pip install openvino onnx") from None
    return openvino


class OpenVinoPredictor:
    """An exported .onnx file compiled for OpenVINO's CPU plugin, tuned for latency (one stream)."""

    def __init__(
        self, path: str | os.PathLike[str], options: RuntimeOptions | None = None, load: LoadOptions | None = None
    ) -> None:
        options, load = options or RuntimeOptions(), load or LoadOptions()
        threads = options.threads
        ov = _openvino()
        self.path = exported_file(path, load)  # `device` is always the CPU: Runtime.open refuses others
        graph = check_onnx_file(self.path)
        if graph is None:
            raise RuntimeMissingError(
                f"{self.path}: OpenVINO needs the onnx package to read the model card: pip install onnx"
            )
        self.isa = graph_isa(graph)
        # Float files run in f32: on CPUs with bf16 units (AMX, AVX512_BF16) the plugin's default is bf16, which
        # moved resnet20's logits by up to 0.18 on a Sapphire Rapids Xeon. Int8 files run with the plugin's
        # defaults: the f32 hint cost them 5-30% there (resnet18@224 1.94 against 1.46 ms) for no accuracy.
        self.precision = options.precision or ("default" if self.isa is not None else "f32")
        self.settings = {"precision": self.precision}  # recorded in every bench row
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if self.precision == "f32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            core = ov.Core()
            model = core.read_model(str(self.path))
            self.compiled = core.compile_model(model, "CPU", config)
        except Exception as exc:  # OpenVINO raises RuntimeError and its own types for unsupported graphs
            raise ModelFileError(f"{self.path}: OpenVINO cannot load it ({gist(exc)})") from None
        entries = {prop.key: prop.value for prop in graph.metadata_props}
        self.card, self.io = card_from_entries(entries, self.path, load)
        shape = model.inputs[0].get_partial_shape()
        check_image_input([d.get_length() if d.is_static else None for d in shape], self.card, self.io, self.path)
        self.request = self.compiled.create_infer_request()
        batch_dim = model.inputs[0].get_partial_shape()[0]
        self.fixed_batch = batch_dim.get_length() if batch_dim.is_static else None

    def prepare(self, batch: np.ndarray) -> np.ndarray:
        """The runtime's native input for an NCHW float batch (done outside any timed region)."""
        if self.fixed_batch is not None and len(batch) != self.fixed_batch:
            raise ModelFileError(f"{self.path}: takes batches of {self.fixed_batch}, not {len(batch)}")
        return np.ascontiguousarray(to_layout(batch.astype(np.float32, copy=False), self.io.layout))

    def invoke(self, native: np.ndarray) -> None:
        """One inference on prepared input: what a benchmark times."""
        self.request.infer({0: native})

    def _run(self, x: np.ndarray) -> np.ndarray:
        return np.array(self.request.infer({0: np.ascontiguousarray(x)})[0], dtype=np.float32)  # a copy

    def predict(self, batch: np.ndarray) -> np.ndarray:
        data = to_layout(batch.astype(np.float32, copy=False), self.io.layout)
        return run_in_chunks(data, self.fixed_batch, self._run)

    def close(self) -> None:
        self.request = None
        self.compiled = None
