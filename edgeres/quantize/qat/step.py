"""QAT as a step of `quantize_model`: after post-training quantization, fine-tune on its grid, then quantize the
fine-tuned model with that grid again (the engine that made the file is returned for fallback and reports)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from ..._io import cache_dir
from ...errors import RecipeError
from ...export.cache import export_cached
from ...formats import registry
from ...models import LoadedModel, load_model
from ...progress import Progress
from ...prune.distributed import Ranks
from ..engine import Int8Engine, Int8Job, float_layers, open_engine
from ..layers import Layer
from ..prepare.fold import unfold_batch_norms
from ..recipes import Recipe
from ..source import Source
from .settings import QatSettings
from .train import GridReader, QatOutcome, quantization_aware, state_file

SIMULATION_IMAGES = 128  # held-out images on which the fine-tuned model and its int8 file are compared


def requantize_after_qat(
    engine: Int8Engine,
    recipe: Recipe,
    tmp: Path,
    source: Source,
    excluded: list[Layer],
    settings: QatSettings,
    out: Path,
    work: Path,
    progress: Progress,
    *,
    check_images: int = SIMULATION_IMAGES,
    ranks: Ranks | None = None,
) -> tuple[Int8Engine, QatOutcome, float | None]:
    """Fine-tune on the grid of the int8 file in `tmp` and write the fine-tuned model's int8 file there. Returns
    the new file's engine, the outcome and the top-1 agreement of the file with the simulated model on the
    first `check_images` held-out calibration images. `ranks`: this is rank 0 of a torchrun job whose ranks
    share the fine-tuning."""
    assert source.loaded is not None and source.original is not None, "QAT sources are PyTorch models"
    fmt = registry.named(recipe.format)
    support = registry.int8_support(fmt.name)
    assert support.qat is not None, "formats without QAT are refused with the settings"
    reader: GridReader = fmt.load(support.qat)(source.file, tmp, engine)
    train = lambda epoch, step, steps, *_: progress(f"QAT epoch {epoch}", step, steps)  # noqa: E731
    held_out = source.calibration.held_out[:check_images]
    in_float = [layer.name for layer in float_layers(engine, excluded)]
    outcome = quantization_aware(
        source.loaded.model, _teacher(settings, source.original), source.card, recipe, reader, engine, in_float,
        source.calibration.inputs, held_out, settings, state_file(out), train, ranks,
    )  # fmt: skip
    trained = LoadedModel(outcome.model, source.card, source.loaded.spec)
    # An engine that quantizes the model reads only the I/O of its fp32 file, the same for the trained model.
    fp32 = source.file if support.from_model else export_cached(trained, work / f"qat{fmt.suffix}", fmt.name)
    job = Int8Job(fp32, recipe, source.calibration, source.card, cache_dir(), outcome.model)
    retrained = open_engine(job)
    retrained.ranges, retrained.wide = outcome.ranges, engine.wide
    retrained.quantize(tmp, excluded)
    return retrained, outcome, _agreement(outcome.simulated_logits, held_out, fmt.name, tmp)


def _teacher(settings: QatSettings, original: LoadedModel) -> nn.Module:
    """The model QAT distils from: the source as loaded, or the checkpoint `settings.teacher` (refused when its
    outputs are not the source's classes)."""
    if settings.teacher is None:
        return original.model
    teacher = load_model(settings.teacher, settings.teacher_load)
    if teacher.card.num_classes != original.card.num_classes:
        raise RecipeError(
            f"{settings.teacher}: has {teacher.card.num_classes} outputs and the model to fine-tune "
            f"{original.card.num_classes}; distil from a model of the same classes"
        )
    return teacher.model


def trained_model(outcome: QatOutcome, source: Source) -> LoadedModel:
    """The fine-tuned float model (weights on the grid) in the structure of the model as loaded: batch norms
    back in place, so that it saves, loads and exports as its architecture does."""
    assert source.original is not None and source.loaded is not None, "QAT sources are PyTorch models"
    unfolded = unfold_batch_norms(outcome.model, source.original.model)
    return LoadedModel(unfolded, source.card, source.loaded.spec)


def _agreement(simulated: np.ndarray, held_out: np.ndarray, fmt: str, int8: Path) -> float | None:
    """Top-1 agreement of the int8 file with the fine-tuned model computing on the simulated grid: how
    faithfully the file keeps what QAT trained (integer kernels round a few values differently). None
    without held-out images."""
    from ...export.base import get_exporter

    if not len(held_out):
        return None
    predictor = get_exporter(fmt).open(int8)
    try:
        file_logits = predictor.predict(held_out)
    finally:
        predictor.close()
    return float(np.mean(file_logits.argmax(1) == simulated.argmax(1)))
