"""The one rule for model outputs that anything is scored from: finite, or an error (a NaN is never a score)."""

from __future__ import annotations

import os

import numpy as np

from .errors import NonFiniteError


def finite_outputs(outputs: np.ndarray, model: str | os.PathLike[str]) -> np.ndarray:
    """`outputs` (N x classes) when every value is finite; NonFiniteError naming `model` otherwise."""
    bad = ~np.isfinite(outputs).reshape(len(outputs), -1).all(axis=1) if outputs.size else np.zeros(0, bool)
    if bad.any():
        raise NonFiniteError(
            f"{model}: its outputs hold NaN or infinite values on {int(bad.sum())} of {len(outputs)} images, so "
            "no score is given; its weights or the file are damaged (e.g. a BatchNorm with a negative running "
            "variance, or a layer that overflows): use an earlier checkpoint, or export again from one"
        )
    return outputs
