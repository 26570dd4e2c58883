"""`quantize_model`: calibrate, quantize for a target's CPU, check, measure and gate one model."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

from .._io import atomic_outputs, cache_dir, require_new, scratch_folder, write_text_atomic
from ..card import ModelCard
from ..data import open_images
from ..errors import EdgeresError
from ..evaluate import LabeledData, evaluate_many
from ..export import format_for
from ..export.base import get_exporter
from ..export.cache import export_cached
from ..formats import registry
from ..models import LoadedModel, load_model
from ..options import LoadOptions
from ..predict import open_predictor
from .calibration import CalibrationSet, calibration_set
from .calibration_recipes import CalibrationRecipe, resolve_calibration
from .check import HeldOutCheck, held_out_check
from .engine import Int8Engine, Int8Job, open_engine
from .layers import Layer, select
from .precision import choose_precision
from .prepare.fold import PrepareError
from .prepare.grid import Grid
from .prepare.optimize import LEVELS, PrepareReport, Techniques
from .range_search import search_ranges
from .recipes import Recipe, RecipeError, embedded_record, recipe_for
from .targeting import ResolvedTarget, resolve_quantize_target

SENSITIVITY_INPUTS = 32
HELD_OUT = 128  # images beyond the calibration set for the label-free check
Progress = Callable[[str, int, int], None]
MAX_FALLBACK_LAYERS = 12


class GateError(EdgeresError):
    """The int8 model loses more accuracy than --max-drop allows."""


@dataclass
class Accuracy:
    n: int
    fp32_top1: float
    int8_top1: float
    agreement: float
    label_mapping: str  # by-name or by-position: how the data's classes met the model's outputs

    @property
    def drop_pp(self) -> float:
        return 100.0 * (self.fp32_top1 - self.int8_top1)


@dataclass
class QuantizeResult:
    path: Path
    report_path: Path
    recipe: Recipe
    target: ResolvedTarget
    calibration: dict[str, Any]
    sensitivity: list[tuple[Layer, float]]
    excluded: list[Layer]
    accuracy: Accuracy | None
    fp32_bytes: int
    int8_bytes: int
    seconds: float
    check: HeldOutCheck | None = None
    warnings: list[str] = field(default_factory=list)
    optimize: str = "none"
    preparation: PrepareReport | None = None
    ranges: dict[str, Any] | None = None  # the activation range search's choice, when it ran
    precision: dict[str, Any] | None = None  # the per-layer precision choice, when it ran

    def to_dict(self) -> dict[str, Any]:
        acc = self.accuracy
        return {
            "path": str(self.path),
            "recipe": {**embedded_record(self.recipe), "why": type(self.recipe).__doc__},
            "target": asdict(self.target),
            "engines": {p: version(p) for p in _int8(self.recipe.format).packages},
            "calibration": self.calibration,
            "sensitivity": [{"layer": x.name, "op": x.op, "key": x.key, "snr_db": s} for x, s in self.sensitivity],
            "excluded": [x.name for x in self.excluded],
            "accuracy": None if acc is None else {**asdict(acc), "drop_pp": acc.drop_pp},
            "held_out_check": None if self.check is None else self.check.to_dict(),
            "files": {"fp32_bytes": self.fp32_bytes, "int8_bytes": self.int8_bytes},
            "seconds": self.seconds,
            "warnings": self.warnings,
            "optimize": {
                "level": self.optimize,
                "preparation": None if self.preparation is None else self.preparation.to_dict(),
                "ranges": self.ranges,
                "precision": self.precision,
            },
        }


def _int8(fmt: str) -> registry.Int8Support:
    """The int8 support `fmt` declares (recipe_for has refused formats without one)."""
    support = registry.named(fmt).int8
    assert support is not None, f"{fmt} has no int8 engine"
    return support


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


def _techniques(optimize: str | Techniques | None, model: object) -> tuple[str, Techniques]:
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


def _refuse_exported_source(recipe: Recipe, model: object) -> None:
    """Engines that quantize the PyTorch program cannot start from an exported file of their format."""
    if _int8(recipe.format).from_model and _exported_format(model) == recipe.format:
        raise RecipeError(
            f"{model}: int8 {recipe.format} files are quantized from the PyTorch model (the engine works on the "
            "program before lowering); quantize the checkpoint instead"
        )


def _measure(fmt: str, fp32: Path, int8: Path, data: LabeledData, progress: Progress) -> Accuracy:
    exporter = get_exporter(fmt)
    predictors = [exporter.open(fp32), exporter.open(int8)]
    try:
        results, agreement = evaluate_many(
            predictors,
            open_images(data.path),
            limit=data.limit,
            progress=partial(progress, "evaluate"),
            by_position=data.by_position,
        )
    finally:
        for predictor in predictors:
            predictor.close()
    return Accuracy(results[0].n, results[0].top1, results[1].top1, agreement[1], results[0].label_mapping)


def quantize_model(
    model: str | os.PathLike[str] | LoadedModel,
    out: str | os.PathLike[str],
    *,
    calib: str | os.PathLike[str] | CalibrationRecipe,
    fmt: str | None = None,
    target: str = "x86",
    num: int | None = None,
    method: str | None = None,
    io: str = "float",
    eval_data: str | os.PathLike[str] | None = None,
    eval_limit: int | None = None,
    map_by_position: bool = False,
    max_drop: float | None = None,
    auto_fallback: bool = False,
    exclude: tuple[str, ...] = (),
    optimize: str | Techniques | None = None,
    force: bool = False,
    load_options: LoadOptions | None = None,
    progress: Progress = lambda _phase, _done, _total: None,
) -> QuantizeResult:
    """Calibrate, quantize, measure and gate; the int8 file appears only if everything passed.

    `calib` is images, a calibration recipe (its file or a shipped recipe's name, see calibration_recipes);
    `num` overrides the recipe's count (default 512 for images given directly).

    `target` is a recipe target (x86 is portable across x86 CPUs), `auto` (this CPU) or a target profile.
    `optimize` is a level of edgeres.quantize.prepare.optimize (None: `fast`) or explicit Techniques.
    Without `eval_data` the int8 file is still checked against fp32 on held-out calibration-source images.
    Raises RecipeError (bad options), GateError (accuracy gate failed; the report is kept), DataError,
    OutputExistsError, or the loader's and exporter's errors.
    """
    target_path = Path(out)
    labeled = LabeledData(eval_data, eval_limit, map_by_position) if eval_data is not None else None
    chosen = format_for(target_path, fmt)
    resolved = resolve_quantize_target(target)
    recipe = recipe_for(chosen, resolved.target, method, io)
    if max_drop is not None and not (max_drop >= 0 and math.isfinite(max_drop)):
        raise RecipeError(f"--max-drop must be 0 or more percentage points, got {max_drop}")
    if max_drop is not None and eval_data is None:
        raise RecipeError("--max-drop needs --eval DIR: the gate measures accuracy on labeled images")
    if map_by_position and eval_data is None:
        raise RecipeError("--map-by-position applies to --eval DIR: give the labeled images too")
    if auto_fallback and max_drop is None:
        raise RecipeError("--auto-fallback needs --max-drop: it keeps layers in float until that gate holds")
    _refuse_exported_source(recipe, model)
    level, techniques = _techniques(optimize, model)
    drawn = resolve_calibration(calib)
    require_new(target_path, force=force)
    report_path = target_path.with_name(target_path.name + ".report.json")
    start = time.perf_counter()
    card_path = target_path.with_name(target_path.name + ".card.json")
    with scratch_folder(target_path) as work:
        fp32, card, loaded = _fp32_source(model, chosen, work, load_options)
        if labeled is not None:  # the data's classes must meet the model's before hours of calibration
            labeled.check(card)
        calibration = calibration_set(
            drawn.data, card, num=num or drawn.num, seed=drawn.seed, split=drawn.split, held_out=HELD_OUT,
            progress=partial(progress, "calibration"),
        )  # fmt: skip
        source, preparation, notes = fp32, None, []
        if techniques.touches_model:
            assert loaded is not None, "exported files were refused by _techniques"
            try:
                loaded, preparation = _prepared_model(loaded, recipe, calibration, techniques, progress)
                if not _int8(chosen).from_model:  # the others quantize its export
                    source = export_cached(loaded, work / f"prepared{registry.named(chosen).suffix}", chosen)
            except PrepareError as exc:
                if optimize is not None:  # asked for by name: say it cannot be done
                    raise
                level, techniques = "fast (untraceable: range search)", _FILE_TECHNIQUES
                notes.append(f"{exc}; quantized with range search only")
        model_or_none = None if loaded is None else loaded.model
        engine = open_engine(Int8Job(source, recipe, calibration, card, cache_dir(), model_or_none))
        excluded = select(engine.layers, exclude)
        with atomic_outputs([target_path, report_path, card_path], force=force) as temps:
            tmp = temps[0]
            progress("quantize", 0, 1)
            engine.quantize(tmp, excluded)
            ranges = None
            if techniques.range_search:
                ranges = search_ranges(
                    engine, chosen, fp32, tmp, excluded, calibration.held_out, Grid.of(recipe).symmetric_activations
                )
            precision = None
            if techniques.mixed_precision:
                precision = choose_precision(engine, chosen, fp32, tmp, excluded, calibration.held_out)
            sensitivity = engine.sensitivity(tmp, calibration.inputs[:SENSITIVITY_INPUTS])
            progress("quantize", 1, 1)
            accuracy = _measure(chosen, fp32, tmp, labeled, progress) if labeled is not None else None
            if (
                accuracy is not None
                and labeled is not None
                and max_drop is not None
                and accuracy.drop_pp > max_drop
                and auto_fallback
            ):
                accuracy = _fall_back(engine, tmp, fp32, chosen, sensitivity, excluded, labeled, max_drop, progress)
            check = held_out_check(chosen, fp32, tmp, calibration.held_out)
            result = QuantizeResult(
                target_path,
                report_path,
                recipe,
                resolved,
                {**calibration.describe(), "recipe": drawn.name, "seed": drawn.seed, "split": drawn.split},
                sensitivity,
                excluded,
                accuracy,
                fp32.stat().st_size,
                tmp.stat().st_size,
                time.perf_counter() - start,
                check,
                calibration.warnings + notes + [w for w in [check and check.warning()] if w],
                level,
                preparation,
                None if ranges is None else ranges.to_dict(),
                None if precision is None else precision.to_dict(),
            )
            report = json.dumps(result.to_dict(), indent=2)
            if accuracy is not None and max_drop is not None and accuracy.drop_pp > max_drop:
                write_text_atomic(report_path, report, force=True)
                raise GateError(
                    f"{target_path}: int8 top-1 {accuracy.int8_top1:.4f} is {accuracy.drop_pp:.2f} pp below fp32 "
                    f"{accuracy.fp32_top1:.4f}, over --max-drop {max_drop}"
                    + (f" even with {len(excluded)} layer(s) in float" if auto_fallback else "; try --auto-fallback")
                    + f"; nothing written, see {report_path}"
                )
            temps[1].write_text(report, encoding="utf-8")
            temps[2].write_text(card.to_json(), encoding="utf-8")
    return result


def _fall_back(
    engine: Int8Engine,
    tmp: Path,
    fp32: Path,
    fmt: str,
    ranked: list[tuple[Layer, float]],
    excluded: list[Layer],
    data: LabeledData,
    max_drop: float,
    progress: Progress,
) -> Accuracy:
    """Keep the most sensitive layers in float, one at a time, until the gate holds (or we give up)."""
    accuracy = None
    for layer, _ in ranked[:MAX_FALLBACK_LAYERS]:
        if layer in excluded:
            continue
        excluded.append(layer)
        engine.quantize(tmp, excluded)
        accuracy = _measure(fmt, fp32, tmp, data, progress)
        if accuracy.drop_pp <= max_drop:
            break
    assert accuracy is not None, "fallback had no layer left to keep in float"
    return accuracy
