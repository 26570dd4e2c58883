"""Making the candidate files: each format's fp32 export and its int8 file for the target's recipe."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..export import export_model
from ..formats import registry as formats
from ..models import LoadedModel
from ..options import LoadOptions
from ..quantize import QuantizeSettings, quantize_model
from ..quantize.source import needs_model
from ..runtimes import registry as runtimes
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


def per_runtime(int8: Path, available: list[str]) -> list[tuple[Path, list[str]]]:
    """The int8 file each runtime runs: its own copy where the runtime declares one (Runtime.int8_copy; made
    once, beside `int8`, with its card), else `int8` itself."""
    found: list[tuple[Path, list[str]]] = []
    plain = [name for name in available if not runtimes.named(name).int8_copy]
    if plain:
        found.append((int8, plain))
    for name in available:
        runtime = runtimes.named(name)
        if not runtime.int8_copy:
            continue
        out = int8.with_name(f"{int8.stem}.{name}{int8.suffix}")
        if not out.is_file():
            runtime.copy_int8(int8, out)
        card = int8.with_name(int8.name + ".card.json")
        if card.is_file():
            shutil.copyfile(card, out.with_name(out.name + ".card.json"))
        found.append((out, [name]))
    return found
