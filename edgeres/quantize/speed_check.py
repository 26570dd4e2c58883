"""One timed check after quantizing: is the int8 file faster than fp32 in the runtime it opens in by default,
on this machine? Small models often are not (onnxruntime int8 resnet18 at 32x32 ran 0.97-1.04x of fp32 on an
AMX Xeon, 0.82x on an AVX-512 VNNI EPYC), and nobody should ship a slower file unknowingly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..bench.harness import TimingConfig, time_interleaved
from ..bench.stats import latency_stats
from ..errors import EdgeresError
from ..isa import local_cpu, recipe_runs_well
from ..runtimes import registry

TIMING = TimingConfig(warmup=3, min_runs=15, min_seconds=0.2)
NOT_FASTER = 1.05  # an int8 file less than 5% faster than fp32 is "no faster": inside the noise of one short run


@dataclass(frozen=True)
class SpeedCheck:
    """p50 (ms, batch 1) of the fp32 and int8 files in the int8 file's default runtime, and of the int8 file in
    the other runtimes installed here that open it."""

    runtime: str
    fp32_ms: float
    int8_ms: float
    elsewhere_ms: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def warning(self) -> str | None:
        if self.fp32_ms / self.int8_ms >= NOT_FASTER:
            return None
        faster = {name: ms for name, ms in self.elsewhere_ms.items() if self.fp32_ms / ms >= NOT_FASTER}
        where = (
            f"it runs at {min(faster.values()):.3f} ms in {min(faster, key=faster.__getitem__)} here"
            if faster
            else "`edgeres deploy` measures every format and runtime here"
        )
        return (
            f"the int8 file is no faster than fp32 in {self.runtime} on this CPU ({self.int8_ms:.3f} against "
            f"{self.fp32_ms:.3f} ms p50, batch 1): {where}"
        )


def speed_check(recipe_target: str, fp32: Path, int8: Path) -> SpeedCheck | None:
    """Time both files (named with their format's suffix) side by side, or None where the recipe is for another
    kind of CPU or a file cannot run here."""
    if recipe_target == "generic" or not recipe_runs_well(recipe_target, local_cpu()):
        return None
    default = registry.runtime_for(int8)
    others = [r for r in registry.installed_here() if r.opens(int8) and r.name != default.name]
    try:
        opened = {"fp32": default.open(fp32), "int8": default.open(int8)}
        opened |= {r.name: r.open(int8) for r in others}
    except EdgeresError:
        return None
    calls: dict[str, Callable[[], object]] = {}
    for name, predictor in opened.items():
        x = np.zeros((1, 3, *predictor.card.input_size), np.float32)
        calls[name] = partial(predictor.invoke, predictor.prepare(x))
    p50 = {name: latency_stats(t.samples_s).p50_ms for name, t in time_interleaved(calls, TIMING).items()}
    return SpeedCheck(default.name, p50["fp32"], p50["int8"], {r.name: p50[r.name] for r in others})
