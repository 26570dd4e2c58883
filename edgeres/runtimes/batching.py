"""Fit an NCHW float32 batch to what a runtime's input wants: layout, and a fixed batch size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def to_layout(batch: np.ndarray, layout: str) -> np.ndarray:
    """NCHW -> the file's layout."""
    return np.ascontiguousarray(batch.transpose(0, 2, 3, 1)) if layout == "nhwc" else batch


def run_in_chunks(batch: np.ndarray, fixed: int | None, run: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Call `run` on slices of `fixed` items (zero-padding the last one), or once when the batch is dynamic."""
    if fixed is None or len(batch) == fixed:
        return run(batch)
    outputs = []
    for start in range(0, len(batch), fixed):
        chunk = batch[start : start + fixed]
        count = len(chunk)
        if count < fixed:
            chunk = np.concatenate([chunk, np.zeros((fixed - count, *chunk.shape[1:]), chunk.dtype)])
        outputs.append(run(chunk)[:count])
    return np.concatenate(outputs)
