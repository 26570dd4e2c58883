"""Export a model to any registered format (edgeres/formats/) with its card embedded, verified against PyTorch in
the target runtime."""

from .base import ExportOptions
from .run import ExportResult, export_model, format_for
from .verify import Verification

__all__ = ["ExportOptions", "ExportResult", "Verification", "export_model", "format_for"]
