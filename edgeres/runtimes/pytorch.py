"""PyTorch checkpoints as a runtime: eager, torch.compile or CUDA graphs (see TorchPredictor). Not on boards."""

from __future__ import annotations

import os
from typing import Any

from ..errors import RuntimeMissingError
from ..formats import registry as format_registry
from ..options import LoadOptions, RuntimeOptions
from .registry import Runtime

RUNTIME = Runtime(
    "torch",
    "PyTorch",
    (),
    ("torch",),
    "pytorch:open_checkpoint",
    ("cpu", "cuda"),
    options=("fp16", "compile_mode", "cuda_graphs"),
    board=False,
)


def open_checkpoint(
    path: str | os.PathLike[str], options: RuntimeOptions | None = None, load: LoadOptions | None = None
) -> Any:
    """A TorchPredictor for a checkpoint read with `load` (load_model's options), run as `options` say."""
    options = options or RuntimeOptions()
    device, threads = options.device, options.threads
    try:
        import torch
    except ImportError:
        raise RuntimeMissingError(
            f"{path}: checkpoints run in PyTorch, which is not installed here: pip install torch, "
            f"or run an exported file ({format_registry.listing()})"
        ) from None

    from ..models import load_model
    from ..predict import TorchPredictor

    if device != "cpu" and not torch.cuda.is_available():
        raise RuntimeMissingError("--device cuda: torch.cuda.is_available() is False on this machine; use --device cpu")
    if threads:
        torch.set_num_threads(threads)
    loaded = load_model(path, load)
    return TorchPredictor(
        loaded.model,
        loaded.card,
        device=device,
        half=options.fp16,
        compile_mode=options.compile_mode,
        cuda_graphs=options.cuda_graphs,
    )
