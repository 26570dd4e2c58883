"""The candidates a device can run: each file edgeres makes (every format, fp32 and int8) in each runtime here
that opens it, with the runtime settings worth measuring (OpenVINO's precision for int8 files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..options import PRECISIONS, RuntimeOptions
from ..runtimes import registry as runtimes

CANDIDATES = "candidates"  # the folder of a deploy run where the model's files are made (variants below it)


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: a file, the runtime it runs in, and that runtime's settings."""

    file: Path
    fmt: str
    precision: str  # "fp32" or "int8"
    runtime: str
    settings: tuple[tuple[str, Any], ...] = ()  # RuntimeOptions fields, e.g. (("precision", "default"),)

    @property
    def label(self) -> str:
        """The file's name; a pruned variant's file under its variant's folder (pruned-0.5/int8-none...)."""
        return self.file.name if self.file.parent.name == CANDIDATES else f"{self.file.parent.name}/{self.file.name}"

    @property
    def name(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.settings)
        return f"{self.label} [{self.runtime}{' ' + extra if extra else ''}]"

    def options(self, threads: int | None) -> RuntimeOptions:
        return RuntimeOptions(threads=threads, **dict(self.settings))


@dataclass
class Measured:
    """A candidate's latency (p50/p90/p99, ms) and accuracy (top-1 or agreement, 0-1)."""

    candidate: Candidate
    stats: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None

    @property
    def p50(self) -> float:
        return self.stats.get("p50_ms", float("inf"))


def local_runtimes() -> list[str]:
    """The runtimes installed here that run exported files (PyTorch runs only the checkpoint)."""
    return [r.name for r in runtimes.installed_here() if r.formats]


def for_file(file: Path, fmt: str, precision: str, available: list[str]) -> list[Candidate]:
    """The candidates of one file: each available runtime that opens it; OpenVINO both ways for int8 files."""
    found = []
    for name in available:
        runtime = runtimes.named(name)
        if fmt not in runtime.formats:
            continue
        if "precision" in runtime.options and precision == "int8":  # measured both ways, never assumed
            found += [Candidate(file, fmt, precision, name, (("precision", p),)) for p in PRECISIONS]
        else:
            found.append(Candidate(file, fmt, precision, name))
    return found
