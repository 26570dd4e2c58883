"""Measuring candidates side by side: latency interleaved in one run, accuracy on the same images."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ..bench.harness import TimingConfig, time_interleaved
from ..bench.stats import latency_stats
from ..data import open_images
from ..errors import EdgeresError
from ..evaluate import score_many
from ..finite import finite_outputs
from ..options import RuntimeOptions
from ..predict import Predictor, open_predictor
from ..runtimes import registry as runtimes
from .candidates import Candidate


def open_all(candidates: list[Candidate], threads: int | None, skipped: list[str]) -> dict[Candidate, Any]:
    """Each candidate's predictor, opened in its runtime with its settings; one that cannot open is left out
    and said in `skipped`."""
    opened = {}
    for candidate in candidates:
        try:
            opened[candidate] = runtimes.named(candidate.runtime).open(candidate.file, candidate.options(threads))
        except EdgeresError as exc:
            skipped.append(f"{candidate.name}: {exc}")
    return opened


def latencies(opened: dict[Candidate, Any], timing: TimingConfig) -> dict[Candidate, dict[str, float]]:
    """p50/p90/p99 (ms) of each candidate at batch 1, timed interleaved so that drift hits all alike."""
    calls: dict[str, Callable[[], object]] = {}
    for candidate, predictor in opened.items():
        x = np.random.default_rng(0).standard_normal((1, 3, *predictor.card.input_size), dtype=np.float32)
        native = predictor.prepare(x)
        calls[candidate.name] = partial(predictor.invoke, native)
    timings = time_interleaved(calls, timing)
    found = {}
    for candidate in opened:
        stats = latency_stats(timings[candidate.name].samples_s)
        found[candidate] = {"p50_ms": stats.p50_ms, "p90_ms": stats.p90_ms, "p99_ms": stats.p99_ms}
    return found


def reference_predictor(model: str | Path, load: Any) -> Predictor:
    """The PyTorch model itself: what every candidate is held to."""
    return open_predictor(model, None, RuntimeOptions(), load)


def top1(
    reference: Predictor, opened: dict[Candidate, Any], data: str | PathLike[str], limit: int | None, by_position: bool
) -> tuple[float, dict[Candidate, float]]:
    """Top-1 (0-1) of the reference and of every candidate on the same labeled images."""
    predictors = [reference, *opened.values()]
    results, _ = score_many(predictors, open_images(data), limit=limit, by_position=by_position)
    return results[0].top1, {c: r.top1 for c, r in zip(opened, results[1:], strict=True)}


def agreement(reference: Predictor, opened: dict[Candidate, Any], images: np.ndarray) -> dict[Candidate, float]:
    """The share of `images` (preprocessed, held out of calibration) where each candidate's top-1 is the
    reference's."""
    expected = np.argmax(finite_outputs(reference.predict(images), "the PyTorch model"), axis=1)
    found = {}
    for c, predictor in opened.items():
        found[c] = float(np.mean(np.argmax(finite_outputs(predictor.predict(images), c.file), axis=1) == expected))
    return found
