"""`quantize_model`: calibrate, quantize for a target's CPU, check, measure and gate one model."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .._io import atomic_outputs, cache_dir, require_new, scratch_folder, write_text_atomic
from .._lock import writes
from ..card import ModelCard
from ..data import open_images
from ..evaluate import LabeledData, score_many
from ..export import format_for
from ..export.base import get_exporter
from ..models import LoadedModel
from ..progress import Progress, no_progress
from .calibration_recipes import resolve_calibration
from .check import held_out_check
from .engine import Int8Engine, Int8Job, open_engine
from .layers import Layer, select
from .precision import choose_precision
from .prepare.grid import Grid
from .qat.refuse import refuse_qat
from .qat.settings import QatSettings
from .qat.step import requantize_after_qat, trained_model
from .qat.train import state_file
from .range_search import search_ranges
from .recipe_target import resolve_quantize_target
from .recipes import recipe_for
from .result import Accuracy, GateError, QuantizeResult
from .settings import QuantizeSettings
from .source import Source, prepare_source, refuse_exported_source, techniques_for
from .speed_check import SpeedCheck, speed_check

if TYPE_CHECKING:
    from ..prune.distributed import Ranks

SENSITIVITY_INPUTS = 32
MAX_FALLBACK_LAYERS = 12


@writes("out")
def quantize_model(
    model: str | os.PathLike[str] | LoadedModel,
    out: str | os.PathLike[str],
    settings: QuantizeSettings,
    progress: Progress = no_progress,
    *,
    ranks: Ranks | None = None,
) -> QuantizeResult:
    """Calibrate, quantize, measure and gate as `settings` say; the int8 file appears only if everything passed.

    Without `settings.eval_data` the int8 file is still checked against fp32 on held-out calibration-source
    images. Raises RecipeError (bad options), GateError (accuracy gate failed; the report is kept), DataError,
    OutputExistsError, or the loader's and exporter's errors. `ranks`: this is rank 0 of a torchrun job whose
    ranks share QAT's fine-tuning (job.py).
    """
    target_path = Path(out)
    labeled = None
    if settings.eval_data is not None:
        labeled = LabeledData(settings.eval_data, settings.eval_limit, settings.map_by_position)
    resolved = resolve_quantize_target(settings.target)
    recipe = recipe_for(format_for(target_path, settings.fmt), resolved.target, settings.method, settings.io)
    refuse_exported_source(recipe, model)
    techniques_for(settings.optimize, model)  # a level the source cannot take is refused before any work
    refuse_qat(settings.qat, recipe, model, target_path)
    drawn = resolve_calibration(settings.calib)
    require_new(target_path, force=settings.force)
    start = time.perf_counter()
    with scratch_folder(target_path) as work:
        check = partial(_check_classes, labeled, settings.qat)  # before hours of calibration and training
        source = prepare_source(model, recipe, drawn, settings, work, progress, check)
        loaded_model = None if source.loaded is None else source.loaded.model
        engine = open_engine(Int8Job(source.file, recipe, source.calibration, source.card, cache_dir(), loaded_model))
        excluded = select(engine.layers, settings.exclude)
        result = QuantizeResult(
            path=target_path, report_path=target_path.with_name(target_path.name + ".report.json"), recipe=recipe,
            target=resolved, calibration={**source.calibration.describe(), "recipe": drawn.name, "seed": drawn.seed,
            "split": drawn.split}, sensitivity=[], excluded=excluded, accuracy=None,
            fp32_bytes=source.fp32.stat().st_size, int8_bytes=0, seconds=0.0, optimize=source.level,
            preparation=source.preparation,
        )  # fmt: skip
        card_path = target_path.with_name(target_path.name + ".card.json")
        with atomic_outputs([target_path, result.report_path, card_path], force=settings.force) as temps:
            _quantize(engine, temps[0], source, result, labeled, settings, (target_path, work), progress, ranks)
            result.seconds = time.perf_counter() - start
            _gate(result, settings)
            temps[1].write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
            temps[2].write_text(source.card.to_json(), encoding="utf-8")
    if settings.qat is not None:  # the file is written: nothing is left to resume
        state_file(target_path).unlink(missing_ok=True)
    return result


def _quantize(
    engine: Int8Engine,
    tmp: Path,
    source: Source,
    result: QuantizeResult,
    labeled: LabeledData | None,
    settings: QuantizeSettings,
    places: tuple[Path, Path],
    progress: Progress,
    ranks: Ranks | None,
) -> None:
    """Quantize into `tmp` with the level's techniques (and QAT), then measure and check it, filling `result` in.
    `places`: the output's path (QAT's state lives beside it) and the scratch folder."""
    recipe, fmt, excluded, held_out = result.recipe, result.recipe.format, result.excluded, source.calibration.held_out
    progress("quantize", 0, 1)
    engine.quantize(tmp, excluded)
    if source.techniques.range_search:
        symmetric = Grid.of(recipe).symmetric_activations
        ranges = search_ranges(engine, fmt, source.fp32, tmp, excluded, held_out, symmetric)
        result.ranges = None if ranges is None else ranges.to_dict()
    if source.techniques.mixed_precision:
        precision = choose_precision(engine, fmt, source.fp32, tmp, excluded, held_out)
        result.precision = None if precision is None else precision.to_dict()
    if settings.qat is not None:
        engine, outcome, agreement = requantize_after_qat(
            engine, recipe, tmp, source, excluded, settings.qat, *places, progress, ranks=ranks
        )
        result.qat = {**outcome.to_dict(), "file_agrees_with_simulation": agreement, **settings.qat.described()}
        result.trained = trained_model(outcome, source)
    result.sensitivity = engine.sensitivity(tmp, source.calibration.inputs[:SENSITIVITY_INPUTS])
    progress("quantize", 1, 1)
    if labeled is not None:
        result.accuracy = _measure(fmt, source.fp32, tmp, labeled, progress)
        gate = settings.max_drop
        if gate is not None and result.accuracy.drop_pp > gate and settings.auto_fallback:
            ranked = result.sensitivity
            result.accuracy = _fall_back(engine, tmp, source.fp32, fmt, ranked, excluded, labeled, gate, progress)
    result.check = held_out_check(fmt, source.fp32, tmp, held_out)
    warnings = [result.check.warning() if result.check is not None else None]
    speed = _timed(recipe.target, source.fp32, tmp)
    result.speed = None if speed is None else speed.to_dict()
    warnings.append(speed.warning() if speed is not None else None)
    result.warnings = source.calibration.warnings + source.notes + [w for w in warnings if w]
    result.int8_bytes = tmp.stat().st_size


def _timed(recipe_target: str, fp32: Path, tmp: Path) -> SpeedCheck | None:
    """The speed check on the int8 file, linked under its format's suffix (runtimes know files by it) in the
    scratch folder, which is the process's temp folder while quantizing."""
    named = Path(tempfile.mkdtemp()) / f"int8{fp32.suffix}"
    try:
        os.link(tmp, named)
    except OSError:
        shutil.copyfile(tmp, named)
    try:
        return speed_check(recipe_target, fp32, named)
    finally:
        shutil.rmtree(named.parent, ignore_errors=True)


def _check_classes(labeled: LabeledData | None, qat: QatSettings | None, card: ModelCard) -> None:
    if labeled is not None:
        labeled.check(card)
    if qat is not None:
        LabeledData(qat.data, by_position=qat.map_by_position).check(card, split="train")


def _gate(result: QuantizeResult, settings: QuantizeSettings) -> None:
    """GateError when int8 top-1 fell more than --max-drop below fp32 (the report is written, the file not)."""
    accuracy, gate = result.accuracy, settings.max_drop
    if accuracy is None or gate is None or accuracy.drop_pp <= gate:
        return
    write_text_atomic(result.report_path, json.dumps(result.to_dict(), indent=2), force=True)
    kept = len(result.excluded)
    raise GateError(
        f"{result.path}: int8 top-1 {accuracy.int8_top1:.4f} is {accuracy.drop_pp:.2f} pp below fp32 "
        f"{accuracy.fp32_top1:.4f}, over --max-drop {gate}"
        + (f" even with {kept} layer(s) in float" if settings.auto_fallback else "; try --auto-fallback")
        + f"; nothing written, see {result.report_path}"
    )


def _measure(fmt: str, fp32: Path, int8: Path, data: LabeledData, progress: Progress) -> Accuracy:
    exporter = get_exporter(fmt)
    predictors = [exporter.open(fp32), exporter.open(int8)]
    try:
        results, agreement = score_many(
            predictors,
            open_images(data.path),
            limit=data.limit,
            progress=partial(progress, "evaluate"),
            by_position=data.by_position,
        )
    finally:
        for predictor in predictors:
            predictor.close()
    return Accuracy(results[0].n, results[0].top1, results[1].top1, float(agreement[1, 0]), results[0].label_mapping)


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
