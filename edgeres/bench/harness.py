"""Timing only: first call, warm-up, then interleaved rounds until every subject has enough runs and time.

Interleaving (a few runs of each subject in turn, round after round) makes slow drift on a noisy machine
(thermal, other tenants) hit every subject alike, so their ratios stay honest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TimingConfig:
    warmup: int = 10
    min_runs: int = 100
    min_seconds: float = 1.0
    runs_per_round: int = 10
    max_seconds: float = 600.0  # a guard for very slow models, per subject
    # Untimed calls each time a subject's turn comes round: the previous subject's runtime threads (onnxruntime
    # spins its pool after every call) still hold the cores for a moment, and the first calls paid for it.
    settle: int = 2


@dataclass
class Timing:
    first_s: float
    warmup_s: list[float] = field(default_factory=list)
    samples_s: list[float] = field(default_factory=list)

    @property
    def timed_s(self) -> float:
        return sum(self.samples_s)


def _call(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_interleaved(
    subjects: dict[str, Callable[[], object]],
    config: TimingConfig,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Timing]:
    """Time each zero-argument callable. The first call and warm-up calls are kept apart from the samples."""
    timings = {name: Timing(first_s=_call(fn)) for name, fn in subjects.items()}
    for name, fn in subjects.items():
        timings[name].warmup_s = [_call(fn) for _ in range(config.warmup)]

    def done(timing: Timing) -> bool:
        enough = len(timing.samples_s) >= config.min_runs and timing.timed_s >= config.min_seconds
        return enough or timing.timed_s >= config.max_seconds

    while not all(done(t) for t in timings.values()):
        for name, fn in subjects.items():
            if done(timings[name]):
                continue
            for _ in range(config.settle):
                fn()
            timings[name].samples_s.extend(_call(fn) for _ in range(config.runs_per_round))
            if progress is not None:
                progress(name, min(len(timings[name].samples_s), config.min_runs), config.min_runs)
    return timings
