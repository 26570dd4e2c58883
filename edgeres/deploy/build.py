"""Making the candidate files: each format's fp32 export and its int8 file for the target's recipe."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from ..export import export_model
from ..formats import registry as formats
from ..models import LoadedModel
from ..options import LoadOptions
from ..quantize import QuantizeSettings, quantize_model
from ..quantize.onnx_graph import openvino_copy
from ..quantize.source import needs_model
from .settings import DeploySettings


def fp32_file(loaded: LoadedModel, fmt: str, folder: Path) -> Path:
    """The verified fp32 export of `loaded` in `fmt` (one a resumed run made before is kept: files appear
    whole or not at all)."""
    out = folder / f"fp32{formats.named(fmt).suffix}"
    return out if out.is_file() else export_model(loaded, out, fmt=fmt).path


def int8_file(
    fp32: Path, model: str | Path, fmt: str, recipe: str, optimize: str, folder: Path, settings: DeploySettings
) -> Path:
    """The int8 file of `fmt` for `recipe`: from the fp32 file where the engine quantizes files and no
    preparation is asked, else from the PyTorch model (the engine or the preparation needs its weights)."""
    source, load = (model, settings.load) if needs_model(fmt, optimize) else (fp32, LoadOptions())
    out = folder / f"int8-{optimize}{formats.named(fmt).suffix}"
    if out.is_file():  # made by the run this one resumes
        return out
    quantize = QuantizeSettings(
        calib=settings.calib, fmt=fmt, target=recipe, num=settings.num, optimize=optimize, force=True, load=load
    )
    return quantize_model(source, out, quantize).path


# (format, runtime) -> a rewrite of the int8 file that runs faster in that runtime only (same numbers)
REWRITES: dict[tuple[str, str], Callable[[Path, Path], Path]] = {("onnx", "openvino"): openvino_copy}


def per_runtime(int8: Path, fmt: str, available: list[str]) -> list[tuple[Path, list[str]]]:
    """The int8 file each runtime runs: its own rewrite where REWRITES has one (made once, beside `int8`, with
    its card), else `int8` itself."""
    found: list[tuple[Path, list[str]]] = []
    plain = [name for name in available if (fmt, name) not in REWRITES]
    if plain:
        found.append((int8, plain))
    for name in available:
        rewrite = REWRITES.get((fmt, name))
        if rewrite is None:
            continue
        out = int8.with_name(f"{int8.stem}.{name}{int8.suffix}")
        if not out.is_file():
            rewrite(int8, out)
        card = int8.with_name(int8.name + ".card.json")
        if card.is_file():
            shutil.copyfile(card, out.with_name(out.name + ".card.json"))
        found.append((out, [name]))
    return found
