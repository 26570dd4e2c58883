"""edgeres: take trained ResNets to the edge.

Public API: load a checkpoint with its model card, read image sets, evaluate any Predictor, and run each
stage (prune, export, quantize, bench here or on boards, the whole pipeline) as the CLI does. Names are
imported on first use, so `import edgeres` (and the torch-free parts: card, data, evaluate) never load
torch; only what needs it (checkpoint loading, the PyTorch predictor) does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ArchitectureError,
    BadImageError,
    CardError,
    CheckpointError,
    DataError,
    EdgeresError,
    OutputExistsError,
    UnsafeCheckpointError,
)

__version__ = "0.1.0"

_LAZY = {
    "ModelCard": ".card",
    "ImageSet": ".data",
    "open_images": ".data",
    "EvalResult": ".evaluate",
    "evaluate": ".evaluate",
    "InspectReport": ".inspection",
    "inspect_checkpoint": ".inspection",
    "ArchSpec": ".models",
    "LoadedModel": ".models",
    "build_model": ".models",
    "load_model": ".models",
    "save_model": ".models",
    "spec_from_name": ".models",
    "Predictor": ".predict",
    "TorchPredictor": ".predict",
    "open_predictor": ".predict",
    "export_model": ".export",
    "quantize_model": ".quantize",
    "bench_models": ".bench",
    "TimingConfig": ".bench",
    "prune_model": ".prune.structured",
    "prune_checkpoint": ".prune.job",
    "PruneSettings": ".prune.settings",
    "PruneOptions": ".prune.options",
    "FinetuneOptions": ".prune.options",
    "LoadOptions": ".options",
    "RuntimeOptions": ".options",
    "run_pipeline": ".pipeline",
    "bench_targets": ".remote",
}

if TYPE_CHECKING:
    from .bench import TimingConfig, bench_models
    from .card import ModelCard
    from .data import ImageSet, open_images
    from .evaluate import EvalResult, evaluate
    from .export import export_model
    from .inspection import InspectReport, inspect_checkpoint
    from .models import ArchSpec, LoadedModel, build_model, load_model, save_model, spec_from_name
    from .options import LoadOptions, RuntimeOptions
    from .pipeline import run_pipeline
    from .predict import Predictor, TorchPredictor, open_predictor
    from .prune.job import prune_checkpoint
    from .prune.options import FinetuneOptions, PruneOptions
    from .prune.settings import PruneSettings
    from .prune.structured import prune_model
    from .quantize import quantize_model
    from .remote import bench_targets


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'edgeres' has no attribute {name!r}")


__all__ = [
    "ArchSpec",
    "ArchitectureError",
    "BadImageError",
    "CardError",
    "CheckpointError",
    "DataError",
    "EdgeresError",
    "EvalResult",
    "FinetuneOptions",
    "ImageSet",
    "InspectReport",
    "LoadOptions",
    "LoadedModel",
    "ModelCard",
    "OutputExistsError",
    "Predictor",
    "PruneOptions",
    "PruneSettings",
    "RuntimeOptions",
    "TimingConfig",
    "TorchPredictor",
    "UnsafeCheckpointError",
    "__version__",
    "bench_models",
    "bench_targets",
    "build_model",
    "evaluate",
    "export_model",
    "inspect_checkpoint",
    "load_model",
    "open_images",
    "open_predictor",
    "prune_checkpoint",
    "prune_model",
    "quantize_model",
    "run_pipeline",
    "save_model",
    "spec_from_name",
]
