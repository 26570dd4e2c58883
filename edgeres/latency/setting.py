"""Which deployment a latency model describes: format, precision, int8 recipe target, runtime and threads."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import EdgeresError
from ..formats import registry
from ..isa import CPU_TARGETS as TARGETS
from ..runtimes.registry import named

PRECISIONS = ("int8", "fp32")


@dataclass(frozen=True)
class LatencySetting:
    """The runtime and precision that will ship, and where. `target` is the int8 recipe's (`quantize
    --target`); `board` a target profile or ssh:// URL that times the files (None: this machine); `threads`
    None is the runtime's default, resolved to this machine's core count for the cache key (a board's setting
    names its threads)."""

    format: str = registry.DEFAULT
    precision: str = "int8"
    target: str = "x86"
    runtime: str | None = None
    threads: int | None = None
    board: str | None = None

    def __post_init__(self) -> None:
        probed = registry.probe_names()
        if self.format not in probed:
            raise EdgeresError(
                f"latency probes exist for {', '.join(probed)} files, not {self.format!r}; "
                f"choose --latency-format {' or '.join(probed)}"
            )
        if self.runtime is not None and self.format not in named(self.runtime).formats:
            raise EdgeresError(f"runtime {self.runtime!r} does not open {self.format} files; choose another format")
        if self.precision not in PRECISIONS:
            raise EdgeresError(f"latency precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.target not in TARGETS:
            raise EdgeresError(f"unknown int8 target {self.target!r}; choose one of {', '.join(TARGETS)}")
        if self.threads is not None and self.threads < 1:
            raise EdgeresError(f"threads must be 1 or more, got {self.threads}")
        if self.board is not None and self.threads is None:
            raise EdgeresError(f"a latency setting on board {self.board!r} names its threads")

    @property
    def resolved_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def label(self) -> str:
        recipe = f" ({self.target} recipe)" if self.precision == "int8" else ""
        where = f" on {self.board}" if self.board is not None else ""
        return f"{self.format} {self.precision}{recipe}, {self.resolved_threads} thread(s){where}"
