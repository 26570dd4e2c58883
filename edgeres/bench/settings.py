"""What one benchmark run is asked to do, as one frozen, validated object (`edgeres bench`'s flags, the prune
comparison, the board runner and the pipeline all build it)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EdgeresError
from ..options import RuntimeOptions
from .harness import TimingConfig


@dataclass(frozen=True, kw_only=True)  # built by keyword: no silent swap of two settings
class BenchSettings:
    """`runtimes` names the runtimes the files run in (empty: each file's own; a file runs in every named
    runtime that opens it); `options` how they run; `data` scores every model on labeled images; `baseline`
    anchors the ratios (default: the first model); `cpus` pins the process."""

    data: str | os.PathLike[str] | None = None
    limit: int | None = None
    map_by_position: bool = False
    runtimes: tuple[str, ...] = ()
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    batches: tuple[int, ...] = (1,)
    timing: TimingConfig = field(default_factory=TimingConfig)
    baseline: str | os.PathLike[str] | None = None
    cpus: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.batches or min(self.batches) < 1:
            raise EdgeresError(f"batch sizes must be 1 or more, got {list(self.batches)}")
        if self.map_by_position and self.data is None:
            raise EdgeresError("--map-by-position applies to --data: give the labeled images too")
        if self.limit is not None and self.data is None:
            raise EdgeresError("--limit applies to --data: give the labeled images too")

    def record(self, paths: list[Path], base: Path) -> dict[str, Any]:
        """The run's `config` as bench records carry it."""
        options = self.options
        return {
            "models": [str(p) for p in paths],
            "baseline": str(base),
            "device": options.device,
            "threads": options.threads,
            "batches": list(self.batches),
            "timing": dataclasses.asdict(self.timing),
            "data": str(self.data) if self.data else None,
            "limit": self.limit,
            "map_by_position": self.map_by_position,
            "cpus": list(self.cpus) if self.cpus else None,
            "fp16": options.fp16,
            "compile": options.compile_mode,
            "cuda_graphs": options.cuda_graphs,
            "provider": options.provider,
        }
