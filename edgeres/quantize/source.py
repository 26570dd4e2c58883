"""Where an int8 file starts: the fp32 file of its format (the model itself, or a verified export), the PyTorch
model prepared for the recipe's grid when the level asks, and the calibration images."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ..card import ModelCard
from ..export.cache import export_cached
from ..formats import registry
from ..models import LoadedModel, load_model
from ..options import LoadOptions
from ..predict import open_predictor
from ..progress import Progress
from .calibration import CalibrationSet, calibration_set
from .calibration_recipes import CalibrationRecipe
from .prepare.fold import PrepareError
from .prepare.optimize import LEVELS, PrepareReport, Techniques
from .recipes import Recipe, RecipeError
from .settings import QuantizeSettings

HELD_OUT = 128  # images beyond the calibration set for the label-free check


@dataclass
class Source:
    """What the engine quantizes and what its output is measured against."""

    fp32: Path  # the float32 file of the format: the reference every check compares with
    file: Path  # what a file engine quantizes (the prepared model's export when preparation ran)
    card: ModelCard
    loaded: LoadedModel | None  # the (prepared) PyTorch model; None when quantizing an exported file
    calibration: CalibrationSet
    level: str
    techniques: Techniques
    preparation: PrepareReport | None = None
    notes: list[str] = field(default_factory=list)
    original: LoadedModel | None = None  # the model as loaded, before preparation (QAT distils from it)


def _exported_format(model: object) -> str | None:
    """The export format whose file `model` is (by suffix), None for a checkpoint or a loaded model."""
    if isinstance(model, LoadedModel):
        return None
    found = registry.by_suffix(str(model))
    return None if found is None else found.name


def _fp32_source(
    model: str | os.PathLike[str] | LoadedModel, fmt: str, work: Path, load: LoadOptions | None
) -> tuple[Path, ModelCard, LoadedModel | None]:
    """An fp32 file of `fmt` (the model itself when it already is one, else a verified export, reused from the
    export cache when one was made of the same weights), its card, and the PyTorch model when there is one."""
    if not isinstance(model, LoadedModel) and _exported_format(model) == fmt:
        # The loader's flags reach the file's runtime: card overrides apply, checkpoint-only flags are errors.
        predictor = open_predictor(Path(model), load=load)
        if predictor.io.precision != "float32":  # type: ignore[attr-defined]
            raise RecipeError(f"{model}: is already {predictor.io.precision}; quantize the float32 file")  # type: ignore[attr-defined]
        return Path(model), predictor.card, None
    loaded = model if isinstance(model, LoadedModel) else load_model(model, load)
    return export_cached(loaded, work / f"fp32{registry.named(fmt).suffix}", fmt), loaded.card, loaded


_FILE_TECHNIQUES = Techniques(range_search=True)  # what `fast` can do without PyTorch weights


def techniques_for(optimize: str | Techniques | None, model: object) -> tuple[str, Techniques]:
    """The level's name and techniques. An exported fp32 file has no PyTorch weights to prepare: by default
    it gets what `fast` can do on the file (range search); asking for more is an error."""
    exported = _exported_format(model) is not None
    if optimize is None:
        optimize = "fast"
        if exported:
            return "fast (file: range search)", _FILE_TECHNIQUES
    if isinstance(optimize, Techniques):
        name, techniques = "custom", optimize
    elif optimize in LEVELS:
        name, techniques = optimize, Techniques.level(optimize)
    else:
        raise RecipeError(f"unknown --optimize {optimize!r}; choose one of {', '.join(LEVELS)}")
    if exported and techniques.touches_model:
        raise RecipeError(
            f"--optimize {name} prepares the PyTorch weights, and {model} is an exported file; quantize the "
            "checkpoint instead, or pass --optimize none"
        )
    return name, techniques


def _prepared_model(
    loaded: LoadedModel, recipe: Recipe, calib: CalibrationSet, techniques: Techniques, progress: Progress
) -> tuple[LoadedModel, PrepareReport]:
    """The PyTorch model prepared for the recipe's grid (file engines quantize its export)."""
    from .prepare.optimize import prepare_model

    model, report = prepare_model(loaded.model, recipe, calib.inputs, techniques, partial(progress, "optimize"))
    return LoadedModel(model, loaded.card, loaded.spec), report


def needs_model(fmt: str, optimize: str) -> bool:
    """Whether int8 `fmt` at level `optimize` starts from the PyTorch model (the level prepares its weights, or
    the format's engine quantizes the program) rather than from the format's fp32 file."""
    return Techniques.level(optimize).touches_model or registry.int8_support(fmt).from_model


def refuse_exported_source(recipe: Recipe, model: object) -> None:
    """Engines that quantize the PyTorch program cannot start from an exported file of their format."""
    if registry.int8_support(recipe.format).from_model and _exported_format(model) == recipe.format:
        raise RecipeError(
            f"{model}: int8 {recipe.format} files are quantized from the PyTorch model (the engine works on the "
            "program before lowering); quantize the checkpoint instead"
        )


def prepare_source(
    model: str | os.PathLike[str] | LoadedModel,
    recipe: Recipe,
    drawn: CalibrationRecipe,
    settings: QuantizeSettings,
    work: Path,
    progress: Progress,
    check: Callable[[ModelCard], None] | None = None,
) -> Source:
    """The fp32 reference (its card passed to `check` first), the calibration set and, when the level touches
    the model, the prepared model (an untraceable model falls back to range search when no level was named;
    named, it is an error)."""
    fmt, optimize = recipe.format, settings.optimize
    level, techniques = techniques_for(optimize, model)
    fp32, card, loaded = _fp32_source(model, fmt, work, settings.load)
    if check is not None:
        check(card)
    calibration = calibration_set(
        drawn.data, card, num=settings.num or drawn.num, seed=drawn.seed, split=drawn.split, held_out=HELD_OUT,
        progress=partial(progress, "calibration"),
    )  # fmt: skip
    source = Source(fp32, fp32, card, loaded, calibration, level, techniques, original=loaded)
    if not techniques.touches_model and settings.qat is None:  # QAT trains the folded model even at `none`
        return source
    assert loaded is not None, "exported files were refused by techniques_for"
    try:
        source.loaded, source.preparation = _prepared_model(loaded, recipe, calibration, techniques, progress)
        if not registry.int8_support(fmt).from_model:  # the others quantize its export
            source.file = export_cached(source.loaded, work / f"prepared{registry.named(fmt).suffix}", fmt)
    except PrepareError as exc:
        if optimize is not None or settings.qat is not None:  # asked for by name (or needed): cannot be done
            raise
        source.level, source.techniques = "fast (untraceable: range search)", _FILE_TECHNIQUES
        source.notes.append(f"{exc}; quantized with range search only")
    return source
