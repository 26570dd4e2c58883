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
- Against an anchor, ratios to its nearest visit, not to its minimum. On the same machine (2026-11-29) a
  resnet32 fp32 session's fastest run read 0.95-1.28 ms over 12 sessions in a row, and for a few seconds at a
  time 1.60 ms (one thread's speed: a vCPU taken by another tenant). The anchor, visited four times as often,
  had four times the chances at a fast spell: with minima on both sides, resnet32 with a block removed read
  1.17x the unpruned network's time in one run and 0.93x in the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..bench.harness import TimingConfig
from ..bench.visits import Visit
from .clock import visits
from .setting import LatencySetting

PASSES = 6
# Per file and pass: a probe runs in tens of microseconds, a CIFAR network in well under a millisecond.
PROBE_TIMING = TimingConfig(warmup=10, min_runs=50, min_seconds=0.0, runs_per_round=10, settle=0)


def latency_us(
    files: Mapping[str, tuple[Path, tuple[int, ...]]],
    setting: LatencySetting,
    timing: TimingConfig = PROBE_TIMING,
    anchor: str | None = None,
    passes: int = PASSES,
) -> dict[str, float]:
    """{name: microseconds} for {name: (file, input shape)}, timed where `setting` says: each file's fastest
    run over `passes` passes. With an `anchor` (what the others are compared with), timed ANCHOR_VISITS times
    per pass among the others (edgeres.bench.visits), each other file's time is the anchor's fastest times the
    median, over passes, of that file's fastest run over the nearest anchor visit's: a slow spell then moves
    both sides of a ratio, and the anchor's extra visits (more chances at a fast spell) do not bias the
    others' ratios."""
    timed = visits(files, setting, timing, passes, anchor)
    fastest = {name: min(t for n, t in timed if n == name) for name in files}
    if anchor is None:
        return {name: 1e6 * t for name, t in fastest.items()}
    ratios: dict[str, list[float]] = {name: [] for name in files if name != anchor}
    for index, (name, seconds) in enumerate(timed):
        if name != anchor:
            ratios[name].append(seconds / _nearest(timed, index, anchor))
    out = {name: 1e6 * fastest[anchor] * float(np.median(r)) for name, r in ratios.items()}
    return {anchor: 1e6 * fastest[anchor], **out}


def _nearest(timed: list[Visit], index: int, anchor: str) -> float:
    """The anchor's time at the visit nearest to `index` (earlier on a tie)."""
    return min(
        ((abs(i - index), i, t) for i, (name, t) in enumerate(timed) if name == anchor),
        key=lambda entry: (entry[0], entry[1]),
    )[2]
