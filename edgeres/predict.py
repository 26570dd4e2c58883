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


class TorchPredictor:
    """A PyTorch module on CPU (or another torch device) behind the Predictor protocol."""

    def __init__(self, model: Any, card: ModelCard, device: str = "cpu", half: bool = False) -> None:
        self.model = model.to(device).eval()
        if half:
            self.model = self.model.half()
        self.card = card
        self.device = device
        self.half = half

    def prepare(self, batch: np.ndarray) -> Any:
        """A tensor on the device, in the model's dtype (outside any timed region)."""
        import torch

        tensor = torch.from_numpy(batch).to(self.device)
        return tensor.half() if self.half else tensor

    def invoke(self, native: Any) -> None:
        """One inference, synchronised on CUDA so that the time covers the work."""
        import torch

        with torch.inference_mode():
            self.model(native)
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(self.prepare(batch))
        return out.float().cpu().numpy()  # type: ignore[no-any-return]

    def close(self) -> None:
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
