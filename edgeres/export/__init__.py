"""Export a model to ONNX or TFLite with its card embedded, verified against PyTorch in the target runtime."""

from ..formats import EXPORTERS
from .base import ExportOptions
from .run import ExportResult, export_model, format_for
from .verify import Verification

__all__ = ["EXPORTERS", "ExportOptions", "ExportResult", "Verification", "export_model", "format_for"]
