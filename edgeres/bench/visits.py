"""Files timed one session at a time, pass after pass: the raw material of latency models (edgeres.latency).

Torch-free, so that the board-side runner times probe files exactly as this machine does. Why one session
open at a time, several passes and an anchor visited among the others: see edgeres.latency.timing.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..options import RuntimeOptions
from ..runtimes.registry import runtime_for
from .harness import TimingConfig, time_interleaved

ANCHOR_VISITS = 4
Visit = tuple[str, float]  # (file name, its fastest run in seconds during that visit)


@dataclass(frozen=True)
class VisitPlan:
    """What to time: `passes` passes over `files` ({name: (file, input shape)}), the `anchor` (if any)
    ANCHOR_VISITS times per pass among the others, in `runtime` (None: the file's default) with `threads`
    (None: the timing machine's core count)."""

    files: Mapping[str, tuple[Path, tuple[int, ...]]]
    timing: TimingConfig
    passes: int
    anchor: str | None = None
    runtime: str | None = None
    threads: int | None = None

    def to_json(self, names: Mapping[str, str]) -> str:
        """The plan for another machine, each file under its name there (`names`: plan name -> file name)."""
        files = {name: [names[name], list(shape)] for name, (_, shape) in self.files.items()}
        fields = {"timing": dataclasses.asdict(self.timing), "passes": self.passes, "anchor": self.anchor}
        return json.dumps({"files": files, **fields, "runtime": self.runtime, "threads": self.threads})

    @classmethod
    def from_json(cls, text: str, folder: Path) -> VisitPlan:
        """A plan written by `to_json`, its files in `folder`."""
        data = json.loads(text)
        files = {name: (folder / file, tuple(shape)) for name, (file, shape) in data["files"].items()}
        return cls(
            files, TimingConfig(**data["timing"]), data["passes"], data["anchor"], data["runtime"], data["threads"]
        )


def timed_visits(plan: VisitPlan) -> list[Visit]:
    """Every visit of `plan`, in the order timed."""
    threads = plan.threads or os.cpu_count() or 1
    visits: list[Visit] = []
    for _ in range(plan.passes):
        for name in visiting_order(list(plan.files), plan.anchor):
            visits.append((name, _fastest_s(plan.files[name], plan.timing, plan.runtime, threads)))
    return visits


def _fastest_s(file: tuple[Path, tuple[int, ...]], timing: TimingConfig, runtime: str | None, threads: int) -> float:
    """One visit: open the file's session (the only one open), time it, close it."""
    path, shape = file
    runner = runtime_for(path, runtime).open(path, RuntimeOptions(threads=threads))
    try:
        native = runner.prepare(np.random.default_rng(0).random(shape, dtype=np.float32))
        call = functools.partial(runner.invoke, native)
        return min(time_interleaved({"file": call}, timing)["file"].samples_s)
    finally:
        runner.close()


def visiting_order(names: list[str], anchor: str | None) -> list[str]:
    """One pass: the anchor before each quarter of the others, or the names as given without one."""
    if anchor is None:
        return names
    others = [name for name in names if name != anchor]
    order = []
    for visit in range(ANCHOR_VISITS):
        start, stop = (len(others) * visit) // ANCHOR_VISITS, (len(others) * (visit + 1)) // ANCHOR_VISITS
        order += [anchor, *others[start:stop]]
    return order
