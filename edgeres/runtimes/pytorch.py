"""PyTorch checkpoints as a runtime: eager, torch.compile or CUDA graphs (see TorchPredictor). Not on boards."""

from __future__ import annotations

import os
from typing import Any

from ..errors import RuntimeMissingError
from ..formats import registry as format_registry
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
    path: str | os.PathLike[str],
    *,
    threads: int | None = None,
    device: str = "cpu",
    fp16: bool = False,
    compile_mode: str | None = None,
    cuda_graphs: bool = False,
    **load_options: Any,
) -> Any:
    """A TorchPredictor for a checkpoint; `load_options` are load_model's (arch, trust, card overrides, ...)."""
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
    loaded = load_model(path, **load_options)
    return TorchPredictor(
        loaded.model, loaded.card, device=device, half=fp16, compile_mode=compile_mode, cuda_graphs=cuda_graphs
    )
