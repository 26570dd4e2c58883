"""One way to run any model file on preprocessed batches, in the runtime registered for it (runtimes.registry)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .card import ModelCard
from .cuda_graphs import CudaGraphed
from .errors import EdgeresError
from .options import LoadOptions, RuntimeOptions


class Predictor(Protocol):
    """Runs a model: N x 3 x H x W float32 (preprocessed per `card`) -> N x num_classes logits."""

    card: ModelCard

    def predict(self, batch: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


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


def open_predictor(
    path: str | os.PathLike[str],
    runtime: str | None = None,
    options: RuntimeOptions | None = None,
    load: LoadOptions | None = None,
) -> Predictor:
    """Open a model file in `runtime` (default: the one registered for its suffix; else a PyTorch checkpoint),
    run as `options` say, read (checkpoints) and its card overridden as `load` says.

    Raises the runtime's and the loader's EdgeresErrors.
    """
    from .runtimes.registry import runtime_for

    predictor: Predictor = runtime_for(Path(path), runtime).open(path, options, load)
    return predictor
