"""One way to run any model file on preprocessed batches: checkpoints now, exported files by registration.

An exported-format module registers an opener for its suffixes; `open_predictor` then serves it without
any other module changing.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .card import ModelCard
from .cuda_graphs import CudaGraphed
from .errors import EdgeresError


class Predictor(Protocol):
    """Runs a model: N x 3 x H x W float32 (preprocessed per `card`) -> N x num_classes logits."""

    card: ModelCard

    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


Opener = Callable[..., Predictor]
# Suffix -> "module:callable", imported on first use so that no runtime loads until a file needs it.
_OPENERS: dict[str, Opener | str] = {
    ".onnx": "edgeres.runtimes.onnxruntime:OrtPredictor",
    ".tflite": "edgeres.runtimes.litert:LiteRtPredictor",
}


def register_opener(suffixes: tuple[str, ...], opener: Opener | str) -> None:
    """Serve files ending in `suffixes` with `opener(path, **options)` (or a "module:callable" path)."""
    for suffix in suffixes:
        _OPENERS[suffix.lower()] = opener


def _resolve(opener: Opener | str) -> Opener:
    if callable(opener):
        return opener
    module, _, name = opener.partition(":")
    found: Opener = getattr(importlib.import_module(module), name)
    return found


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


class TorchPredictor:
    """A PyTorch module on CPU or CUDA behind the Predictor protocol: eager, `torch.compile`d, or CUDA graphs.

    `compile_mode` is one of COMPILE_MODES (compilation happens on the first call, which the benchmark
    reports apart); `cuda_graphs` captures one graph per batch shape and times a single replay.
    """

    def __init__(
        self,
        model: Any,
        card: ModelCard,
        device: str = "cpu",
        half: bool = False,
        compile_mode: str | None = None,
        cuda_graphs: bool = False,
    ) -> None:
        import torch

        if cuda_graphs and not device.startswith("cuda"):
            raise EdgeresError(f"CUDA graphs need --device cuda, not {device}")
        self.model = model.to(device).eval()
        if half:
            self.model = self.model.half()
        if compile_mode is not None:
            self.model = torch.compile(self.model, mode=None if compile_mode == "default" else compile_mode)
        self.card = card
        self.device = device
        self.half = half
        self.cuda_graphs = cuda_graphs
        self._graphs: dict[tuple[int, ...], CudaGraphed] = {}

    def prepare(self, batch: np.ndarray) -> Any:
        """A tensor on the device in the model's dtype, or a loaded CUDA graph (outside any timed region)."""
        import torch

        tensor = torch.from_numpy(batch).to(self.device)
        tensor = tensor.half() if self.half else tensor
        if not self.cuda_graphs:
            return tensor
        shape = tuple(tensor.shape)
        if shape not in self._graphs:
            self._graphs[shape] = CudaGraphed(self.model, tensor)
        return self._graphs[shape].load(tensor)

    def invoke(self, native: Any) -> Any:
        """One inference, synchronised on CUDA so that the time covers the work."""
        import torch

        if isinstance(native, CudaGraphed):
            return native.replay()
        with torch.inference_mode():
            out = self.model(native)
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = self.invoke(self.prepare(batch))
        return out.float().cpu().numpy()  # type: ignore[no-any-return]

    def gpu_peak_mb(self) -> float | None:
        """Peak CUDA memory PyTorch allocated on this device so far, or None on the CPU."""
        import torch

        if not self.device.startswith("cuda"):
            return None
        return float(torch.cuda.max_memory_allocated(self.device)) / 1e6

    def close(self) -> None:
        self._graphs.clear()
        self.model = None


def open_predictor(path: str | os.PathLike[str], **options: Any) -> Predictor:
    """Open a model file with the opener registered for its suffix, else as a PyTorch checkpoint.

    `options` are the loader's (arch, trust, card overrides, ...). Raises the loader's EdgeresErrors.
    """
    suffix = Path(path).suffix.lower()
    if suffix in _OPENERS:
        return _resolve(_OPENERS[suffix])(path, **options)
    from .models import load_model

    loaded = load_model(path, **options)
    return TorchPredictor(loaded.model, loaded.card)
