"""Architectures, checkpoint loading and model summaries."""

from .loader import LoadedModel, load_model, save_model
from .registry import build_model, known_names, spec_from_name
from .spec import ArchSpec

__all__ = [
    "ArchSpec",
    "LoadedModel",
    "build_model",
    "known_names",
    "load_model",
    "save_model",
    "spec_from_name",
]
