"""Making the candidate files: each format's fp32 export and its int8 file for the target's recipe."""

from __future__ import annotations

from pathlib import Path

from ..export import export_model
from ..formats import registry as formats
from ..models import LoadedModel
from ..options import LoadOptions
from ..quantize import QuantizeSettings, quantize_model
from ..quantize.source import needs_model
from .settings import DeploySettings


def fp32_file(loaded: LoadedModel, fmt: str, folder: Path) -> Path:
    """The verified fp32 export of `loaded` in `fmt`."""
    return export_model(loaded, folder / f"fp32{formats.named(fmt).suffix}", fmt=fmt).path


def int8_file(
    fp32: Path, model: str | Path, fmt: str, recipe: str, optimize: str, folder: Path, settings: DeploySettings
) -> Path:
    """The int8 file of `fmt` for `recipe`: from the fp32 file where the engine quantizes files and no
    preparation is asked, else from the PyTorch model (the engine or the preparation needs its weights)."""
    source, load = (model, settings.load) if needs_model(fmt, optimize) else (fp32, LoadOptions())
    out = folder / f"int8-{optimize}{formats.named(fmt).suffix}"
    quantize = QuantizeSettings(
        calib=settings.calib, fmt=fmt, target=recipe, num=settings.num, optimize=optimize, force=True, load=load
    )
    return quantize_model(source, out, quantize).path
