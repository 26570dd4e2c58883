"""LiteRT (ai-edge-litert, XNNPACK) behind the Predictor protocol; no torch. tflite-runtime as fallback."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .._quiet import native_stderr_silenced
from ..errors import ModelFileError, RuntimeMissingError
from ..file_kind import kind_of_bytes
from ..formats.tflite import FORMAT as TFLITE
from ..oneline import gist
from ..options import LoadOptions, RuntimeOptions
from .batching import run_in_chunks, to_layout
from .embedded import card_from_entries, exported_file, isa_from_entries
from .registry import Runtime
from .tflite_metadata import read_metadata

RUNTIME = Runtime("litert", "LiteRT", ("tflite",), ("ai-edge-litert", "tflite-runtime"), "litert:LiteRtPredictor")


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:  # tflite-runtime 2.14 cannot load models under numpy 2; kept only as a fallback
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise RuntimeMissingError("LiteRT is not installed: pip install ai-edge-litert") from None
    return Interpreter


def _to_tensor(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Float input -> the tensor's dtype; integer-I/O models get it quantized with the tensor's scale."""
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x
    scale: float
    zero_point: int
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def _from_tensor(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return np.array(y, dtype=np.float32)
    scale, zero_point = detail["quantization"]
    dequantized: np.ndarray = ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)
    return dequantized


def _why_not(blob: bytes, exc: Exception) -> str:
    """Why the interpreter refused a file; for bytes that are no flatbuffer at all, what they are instead (the
    parser's own message would quote offsets read from them)."""
    if not TFLITE.signature.matches(blob[:16]):
        return f"it holds {kind_of_bytes(blob)}, not a TFLite flatbuffer; re-export it"
    return f"truncated or corrupted ({gist(exc)})"


class LiteRtPredictor:
    """An exported .tflite file on the LiteRT interpreter with its default XNNPACK delegate."""

    def __init__(
        self, path: str | os.PathLike[str], options: RuntimeOptions | None = None, load: LoadOptions | None = None
    ) -> None:
        options, load = options or RuntimeOptions(), load or LoadOptions()
        threads = options.threads
        self.path = exported_file(path, load)  # `device` is always the CPU: Runtime.open refuses others
        blob = self._blob = self.path.read_bytes()  # the interpreter reads from this buffer; keep it alive
        try:
            entries = read_metadata(blob)
            with native_stderr_silenced():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
                self.interpreter = _interpreter_class()(model_content=blob, num_threads=threads or os.cpu_count())
                self.interpreter.allocate_tensors()
        except RuntimeMissingError:
            raise
        except Exception as exc:  # flatbuffer and interpreter errors come as ValueError, IndexError, ...
            raise ModelFileError(f"{self.path}: not a loadable TFLite model, {_why_not(blob, exc)}") from None
        self.card, self.io = card_from_entries(entries, self.path, load)
        self.isa = isa_from_entries(entries)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.fixed_batch = int(self.input["shape"][0])

    def _run(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], _to_tensor(x, self.input))
        self.interpreter.invoke()
        return _from_tensor(self.interpreter.get_tensor(self.output["index"]), self.output)

    def prepare(self, batch: np.ndarray) -> np.ndarray:
        """Native input for an NCHW float batch of exactly the file's batch size.

        Never resizes: litert-torch bakes the batch into reshapes, and a resized interpreter ran batch 8 of
        resnet20 without error but with top-1 0.68 instead of 0.81.
        """
        if len(batch) != self.fixed_batch:
            raise ModelFileError(
                f"{self.path}: takes batches of {self.fixed_batch}, not {len(batch)}; "
                f"export with --batch {len(batch)} to run that batch size"
            )
        return _to_tensor(to_layout(batch.astype(np.float32, copy=False), self.io.layout), self.input)

    def invoke(self, native: np.ndarray) -> None:
        """One inference on prepared input: what a benchmark times."""
        self.interpreter.set_tensor(self.input["index"], native)
        self.interpreter.invoke()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        data = to_layout(batch.astype(np.float32, copy=False), self.io.layout)
        return run_in_chunks(data, self.fixed_batch, self._run)

    def close(self) -> None:
        self.interpreter = None
