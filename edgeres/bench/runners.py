"""Open any model file as a benchmark runner in the runtimes the run names (runtimes.registry)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import EdgeresError
from ..options import RuntimeOptions
from ..runtimes.registry import Runtime, named, runtime_for
from ..runtimes.registry import runtimes as registered

FLAGS = {
    "fp16": "--fp16",
    "compile_mode": "--compile",
    "cuda_graphs": "--cuda-graphs",
    "provider": "--provider",
    "precision": "--ov-precision",
}


def runtimes_for(path: Path, names: tuple[str, ...]) -> list[Runtime]:
    """The runtimes `path` runs in this run: its default without `names`, else each named one that opens it
    (an error where none does, or for a name that is no runtime)."""
    if not names:
        return [runtime_for(path)]
    able = [runtime for runtime in map(named, names) if runtime.opens(path)]
    if not able:
        runtime_for(path, names[0])  # raises, naming the runtimes that do open it
    return able


def check_flags(paths: list[Path], runtimes: list[Runtime], flags: dict[str, Any]) -> None:
    """Runtime-specific flags (FLAGS) need a model of the run whose runtime takes them; else an error."""
    for name, value in flags.items():
        if value and not any(name in runtime.options for runtime in runtimes):
            owners = [r for r in registered() if name in r.options]
            what = " or ".join(f"{r.title} {'files' if r.suffixes else 'checkpoints'}" for r in owners)
            raise EdgeresError(f"{paths[0]}: {FLAGS[name]} applies to {what}, not {runtimes[0].title} files")


def open_runner(path: Path, runtime: Runtime, options: RuntimeOptions) -> Any:
    """A Predictor with prepare()/invoke(), given the runtime-specific options (FLAGS) its runtime takes (a run
    of several runtimes gives each its own; check_flags refused those no runtime of the run takes). Raises
    RuntimeMissingError when the device or package is absent."""
    return runtime.open(path, options.keeping(runtime.options))


def file_bytes(path: Path) -> int:
    return os.path.getsize(path)
