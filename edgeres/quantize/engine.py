"""The int8 engine protocol: what every format's engine offers `quantize_model`, range search, per-layer
precision and latency probes, and how the engine of a recipe's format is opened (from its declaration)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from torch import nn

from ..card import ModelCard
from ..formats import registry
from .calibration import CalibrationSet
from .layers import Layer
from .range_search import Histogram
from .recipes import Recipe


@dataclass(frozen=True)
class Int8Job:
    """What an engine quantizes. `fp32` is a float32 file of the recipe's format: the engine's input, or for
    engines that quantize from the model (`Int8Support.from_model`) the program their output is measured
    against and whose I/O it keeps; `model` is then the PyTorch model they quantize."""

    fp32: Path
    recipe: Recipe
    calib: CalibrationSet
    card: ModelCard
    cache: Path  # where calibration statistics are kept between runs
    model: nn.Module | None = None


class Int8Engine(Protocol):
    """Quantizes one model to int8 files of its format, any number of times (fallback), calibrating once."""

    layers: list[Layer]  # what can be kept in float, in graph order
    ranges: dict[str, tuple[float, float]] | None  # set: these activation ranges replace calibration's
    wide: list[Layer]  # layers given wider activations (`wide_kind` says what that means in this format)
    wide_kind: str

    def quantize(self, out: Path, exclude: list[Layer]) -> None: ...

    def histograms(self) -> dict[str, Histogram]: ...

    def sensitivity(self, int8: Path, inputs: np.ndarray) -> list[tuple[Layer, float]]: ...


class EngineClass(Protocol):
    def for_job(self, job: Int8Job) -> Int8Engine: ...


WIDE_IN_FLOAT = "float"  # a `wide_kind`: the engine keeps a wide layer in float (XNNPACK has no 16x8 kernels)


def float_layers(engine: Int8Engine, excluded: list[Layer]) -> list[Layer]:
    """The layers the engine's file computes in float: those excluded and, where widening keeps a layer in
    float, the wide ones (QAT must leave their weights off the int8 grid)."""
    return [*excluded, *(engine.wide if engine.wide_kind == WIDE_IN_FLOAT else [])]


def open_engine(job: Int8Job) -> Int8Engine:
    """The engine that the recipe's format declares, set up for `job`. Raises what the engine raises."""
    fmt = registry.named(job.recipe.format)
    engine_class: EngineClass = fmt.load(registry.int8_support(fmt.name).engine)
    return engine_class.for_job(job)
