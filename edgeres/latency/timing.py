"""Batch-1 latency of probe files in the runtime that ships, robust to a shared machine's noise.

Measured on a shared 2-vCPU AVX2-only EPYC (onnxruntime 1.32, 2 threads), three rules:
- One session open at a time. With every probe of a table open and timed round by round (as `bench` does),
  the same 3x3 conv at 8x8 read 33 us in one run and 53 us in the next, its neighbours flipping between the
  same two modes: idle sessions' thread pools contend with the one being timed. One at a time, two runs agreed
  within 0.5 us at every width.
- Several passes over all files, each opening and timing every file in turn, so that a slow spell of the
  machine (other tenants) cannot hit one file only: spells last seconds to minutes (within one run every probe
  after some point ran at half speed; resnet20 fp32 read 0.77 ms in one measurement, 0.58 ms in the next).
- The minimum of the pooled samples, not the median: others only ever add time. resnet32 int8 and three
  uniform prunings, four runs: the unpruned median read 1.06-1.12 ms, pruned-to-unpruned median ratios moved by
  up to 0.18; the low end read within 3% and the ratios within 0.02.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..bench.harness import TimingConfig, time_interleaved
from ..runtimes.registry import runtime_for
from .setting import LatencySetting

PERCENTILE = 0  # the minimum (see above)
PASSES = 6
ANCHOR_VISITS = 4
# Per file and pass: a probe runs in tens of microseconds, a CIFAR network in well under a millisecond.
PROBE_TIMING = TimingConfig(warmup=10, min_runs=50, min_seconds=0.0, runs_per_round=10, settle=0)


def latency_us(
    files: Mapping[str, tuple[Path, tuple[int, ...]]],
    setting: LatencySetting,
    timing: TimingConfig = PROBE_TIMING,
    anchor: str | None = None,
) -> dict[str, float]:
    """{name: microseconds (PERCENTILE of all passes' samples)} for {name: (file, input shape)}. The `anchor`
    (what the others are compared with) is timed ANCHOR_VISITS times per pass, spread among the others, so that
    a slow spell cannot shift every comparison at once."""
    samples: dict[str, list[float]] = {name: [] for name in files}
    order = _visiting_order(list(files), anchor)
    for _ in range(PASSES):
        for name in order:
            path, shape = files[name]
            runner = runtime_for(path, setting.runtime).open(path, threads=setting.resolved_threads)
            try:
                native = runner.prepare(np.random.default_rng(0).random(shape, dtype=np.float32))
                call = functools.partial(runner.invoke, native)
                samples[name] += time_interleaved({name: call}, timing)[name].samples_s
            finally:
                runner.close()
    return {name: 1e6 * float(np.percentile(values, PERCENTILE)) for name, values in samples.items()}


def _visiting_order(names: list[str], anchor: str | None) -> list[str]:
    if anchor is None:
        return names
    others = [name for name in names if name != anchor]
    order = []
    for visit in range(ANCHOR_VISITS):
        start, stop = (len(others) * visit) // ANCHOR_VISITS, (len(others) * (visit + 1)) // ANCHOR_VISITS
        order += [anchor, *others[start:stop]]
    return order
