"""Which deployment a latency model describes: format, precision, int8 recipe target, runtime and threads."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import EdgeresError
from ..quantize.recipes import TARGETS

PRECISIONS = ("int8", "fp32")


@dataclass(frozen=True)
class LatencySetting:
    """The runtime and precision that will ship. `target` is the int8 recipe's (`quantize --target`);
    `threads` None is the runtime's default, resolved to this machine's core count for the cache key."""

    format: str = "onnx"
    precision: str = "int8"
    target: str = "x86"
    runtime: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        from .probes import PROBE_FORMATS

        if self.format not in PROBE_FORMATS:
            raise EdgeresError(
                f"latency probes exist for {', '.join(PROBE_FORMATS)}, not {self.format!r}; "
                "choose --latency-format onnx"
            )
        if self.precision not in PRECISIONS:
            raise EdgeresError(f"latency precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.target not in TARGETS:
            raise EdgeresError(f"unknown int8 target {self.target!r}; choose one of {', '.join(TARGETS)}")
        if self.threads is not None and self.threads < 1:
            raise EdgeresError(f"threads must be 1 or more, got {self.threads}")

    @property
    def resolved_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def label(self) -> str:
        recipe = f" ({self.target} recipe)" if self.precision == "int8" else ""
        return f"{self.format} {self.precision}{recipe}, {self.resolved_threads} thread(s)"
