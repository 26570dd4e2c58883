"""Probe files: one conv (+ ReLU, which every runtime fuses) at given channel counts, in the shipping format and
precision, and a null probe (the same input, no conv) whose time is the call's own overhead.

One builder per format, each in its own module (a `PROBES` object) that the format's declaration names
(edgeres/formats/); int8 probes are quantized by the same engine and recipe as `edgeres quantize`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

from .._quiet import native_stderr_silenced
from ..card import ModelCard
from ..formats import registry
from ..quantize.calibration import CalibrationSet
from ..quantize.recipes import recipe_for
from .layers import ConvShape
from .setting import LatencySetting

CALIBRATION_IMAGES = 4  # ranges do not change a kernel's speed; a few random inputs make valid scales


class ProbeBuilder(Protocol):
    suffix: str

    def conv(self, shape: ConvShape, cin: int, cout: int, out: Path, setting: LatencySetting) -> Path: ...

    def null(self, shape: ConvShape, cin: int, out: Path, setting: LatencySetting) -> Path: ...


def probe_builder(fmt: str) -> ProbeBuilder:
    declared = registry.named(fmt)
    assert declared.probes is not None, "LatencySetting accepts only formats with probes"
    builder: ProbeBuilder = declared.load(declared.probes)
    return builder


def probe_card(shape: ConvShape, channels: int) -> ModelCard:
    return ModelCard("latency-probe", channels, (shape.height, shape.width), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def quantize_probe(fp32: Path, out: Path, setting: LatencySetting, card: ModelCard, channels: int) -> Path:
    """`fp32` quantized to `out` by the recipe of `setting.format` and `setting.target`, calibrated on random
    inputs."""
    from ..quantize.engine import Int8Job, open_engine

    recipe = recipe_for(setting.format, setting.target, "minmax")
    inputs = np.random.default_rng(0).random((CALIBRATION_IMAGES, channels, *card.input_size), dtype=np.float32)
    digest = hashlib.sha256(inputs.tobytes()).hexdigest()
    calib = CalibrationSet(inputs, "random latency-probe inputs", digest)
    with native_stderr_silenced():  # LiteRT's and TensorFlow's start-up notes; errors still raise
        open_engine(Int8Job(fp32, recipe, calib, card, out.parent / "calibration")).quantize(out, [])
    return out
