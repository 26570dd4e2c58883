"""ONNX Runtime behind the Predictor protocol; no torch. Refuses unsafe external-data paths first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError, RuntimeMissingError
from ..oneline import gist
from ..options import LoadOptions, RuntimeOptions
from .batching import run_in_chunks, to_layout
from .embedded import card_from_entries, check_image_input, exported_file, isa_from_entries
from .onnx_isa import graph_isa
from .ort_providers import ProviderChoice, open_session
from .registry import Runtime

RUNTIME = Runtime(
    "ort",
    "onnxruntime",
    ("onnx",),
    ("onnxruntime", "onnxruntime-gpu"),
    "onnxruntime:OrtPredictor",
    ("cpu", "cuda"),
    options=("provider",),  # onnxruntime's GPU provider (ort_providers)
)


def check_onnx_file(path: Path) -> Any:
    """Refuse a truncated/corrupt file, and external data that leaves the model's folder, before reading it.

    Returns the graph (onnx.ModelProto, weights not loaded from external files), or None where the `onnx`
    package is absent (boards): there onnxruntime's own path checks apply.
    """
    try:
        import onnx
    except ImportError:
        return None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeError or worse on damaged files
        raise ModelFileError(f"{path}: not a readable ONNX model, truncated or corrupted ({gist(exc)})") from None
    base = path.resolve().parent
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        target = base / location
        escapes = os.path.isabs(location) or ".." in Path(location).parts
        if escapes or _has_symlink(base, target) or not target.resolve().is_relative_to(base):
            raise ModelFileError(
                f"{path}: tensor {tensor.name} points at external data {location!r} outside the model's folder; "
                "refused (re-export the model as one file)"
            )
    return model


def _tensors(graph: Any) -> list[Any]:
    found = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                found.append(attr.t)
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                found += _tensors(sub)
    return found


def _has_symlink(base: Path, target: Path) -> bool:
    current = target
    while current != base and current != current.parent:
        if current.is_symlink():
            return True
        current = current.parent
    return False


def _pinned_cpus() -> int | None:
    """How many CPUs this process is pinned to (`bench --cpus`, taskset), when fewer than the machine has;
    else None. Left to choose its thread count, onnxruntime pins its pool's threads to every core itself,
    out of the process's affinity (measured: a thread on CPU 1 of a process taskset to CPU 0); given a
    count, it leaves their affinity alone."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this OS
        return None
    return allowed if allowed < (os.cpu_count() or allowed) else None


class OrtPredictor:
    """An exported .onnx file on onnxruntime: the CPU, or on `device` "cuda" the CUDA provider, or TensorRT with
    `provider` "tensorrt" or "tensorrt-fp16" (see ort_providers)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        options: RuntimeOptions | None = None,
        load: LoadOptions | None = None,
    ) -> None:
        options, load = options or RuntimeOptions(), load or LoadOptions()
        threads, device, provider = options.threads, options.device, options.provider
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeMissingError("onnxruntime is not installed: pip install onnxruntime") from None
        self.path = exported_file(path, load)
        graph = check_onnx_file(self.path)
        choice = ProviderChoice(device, provider)
        settings = ort.SessionOptions()
        threads = threads or _pinned_cpus()
        if threads:
            settings.intra_op_num_threads = threads
        self.session = open_session(ort, self.path, settings, choice, graph)
        self.provider = choice.name
        entries = self.session.get_modelmeta().custom_metadata_map
        self.card, self.io = card_from_entries(entries, self.path, load)
        # What the weights need beats what the file says of itself; boards without `onnx` read the metadata.
        self.isa = graph_isa(graph) if graph is not None else isa_from_entries(entries)
        check_image_input(self.session.get_inputs()[0].shape, self.card, self.io, self.path)
        self.input_name = self.session.get_inputs()[0].name
        batch_dim = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) else None

    def prepare(self, batch: np.ndarray) -> np.ndarray:
        """The runtime's native input for an NCHW float batch (done outside any timed region)."""
        if self.fixed_batch is not None and len(batch) != self.fixed_batch:
            raise ModelFileError(f"{self.path}: takes batches of {self.fixed_batch}, not {len(batch)}")
        return to_layout(batch.astype(np.float32, copy=False), self.io.layout)

    def invoke(self, native: np.ndarray) -> None:
        """One inference on prepared input: what a benchmark times."""
        self.session.run(None, {self.input_name: native})

    def predict(self, batch: np.ndarray) -> np.ndarray:
        data = to_layout(batch.astype(np.float32, copy=False), self.io.layout)
        run = lambda x: self.session.run(None, {self.input_name: x})[0]  # noqa: E731
        return np.asarray(run_in_chunks(data, self.fixed_batch, run), dtype=np.float32)

    def close(self) -> None:
        self.session = None
