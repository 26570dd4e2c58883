"""The runtimes that run model files, each declared once in its own module; torch-free, imports no runtime.

A runtime module (edgeres/runtimes/<module>.py) declares `RUNTIME = Runtime(...)`: its name, the files it
opens, the packages that provide it, the devices it runs on and how to open a file. Listing the module in
MODULES is its whole registration. Everything that names runtimes reads them from here: predict, eval and
bench, the board-side runner, `targets check`, the machine record and the CLI's choices.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EdgeresError
from ..formats import registry as format_registry
from ..options import LoadOptions, RuntimeOptions

MODULES = ("onnxruntime", "openvino", "litert", "executorch", "pytorch")  # the first runtime per suffix is its default


@dataclass(frozen=True)
class Runtime:
    """One runtime: what it opens and how."""

    name: str  # the --runtime value
    title: str  # for messages
    formats: tuple[str, ...]  # the formats whose files it opens (edgeres.formats); () for PyTorch checkpoints
    packages: tuple[str, ...]  # distributions any one of which provides it; the first is what to install
    opener: str  # "module:callable" in edgeres.runtimes, called as opener(path, RuntimeOptions, LoadOptions)
    devices: tuple[str, ...] = ("cpu",)
    options: tuple[str, ...] = ()  # the runtime-specific RuntimeOptions fields it takes (e.g. PyTorch's fp16)
    board: bool = True  # runs in the torch-free board runner
    requires: tuple[str, ...] = ()  # distributions it needs besides one of `packages`
    # "module:callable" in edgeres.runtimes, called as copy(int8 file, out): the same int8 file rewritten into a
    # graph this runtime runs faster (and others may not); "" where the file runs as made
    int8_copy: str = ""

    @property
    def suffixes(self) -> tuple[str, ...]:
        """The file suffixes it opens; () for checkpoints (files no other runtime claims)."""
        return tuple(format_registry.named(name).suffix for name in self.formats)

    def opens(self, path: Path) -> bool:
        return path.suffix.lower() in self.suffixes if self.suffixes else _claimed(path) is None

    def open(
        self, path: str | os.PathLike[str], options: RuntimeOptions | None = None, load: LoadOptions | None = None
    ) -> Any:
        """A Predictor (with prepare/invoke) for `path`. Raises RuntimeMissingError when the package is absent,
        EdgeresError for a device or runtime-specific option this runtime does not take."""
        options = options or RuntimeOptions()
        if options.device not in self.devices:
            where = "the CPU" if self.devices == ("cpu",) else " or ".join(self.devices)
            raise EdgeresError(f"{path}: {self.title} runs on {where} here; drop --device {options.device}")
        foreign = [name for name in options.specific() if name not in self.options]
        if foreign:
            raise EdgeresError(f"{path}: {self.title} does not take {', '.join(foreign)}")
        module, _, name = self.opener.partition(":")
        opener = getattr(importlib.import_module(f"{__package__}.{module}"), name)
        return opener(path, options, load or LoadOptions())

    def copy_int8(self, path: Path, out: Path) -> Path:
        """`path` as this runtime's int8_copy writes it to `out` (`path` itself where it has none)."""
        if not self.int8_copy:
            return path
        module, _, name = self.int8_copy.partition(":")
        copy: Any = getattr(importlib.import_module(f"{__package__}.{module}"), name)
        return Path(copy(path, out))

    def install_hint(self) -> str:
        return " ".join((self.packages[0], *self.requires))


@functools.cache
def runtimes() -> tuple[Runtime, ...]:
    """Every registered runtime, in MODULES order."""
    return tuple(importlib.import_module(f"{__package__}.{module}").RUNTIME for module in MODULES)


def names() -> tuple[str, ...]:
    return tuple(r.name for r in runtimes())


def named(name: str) -> Runtime:
    """The runtime called `name`; EdgeresError listing the choices otherwise."""
    for runtime in runtimes():
        if runtime.name == name:
            return runtime
    raise EdgeresError(f"unknown runtime {name!r}; choose among {', '.join(names())}")


def _claimed(path: Path) -> Runtime | None:
    """The default runtime of the file's suffix, None for a checkpoint."""
    return next((r for r in runtimes() if path.suffix.lower() in r.suffixes), None)


def runtime_for(path: Path, name: str | None = None) -> Runtime:
    """The runtime `path` runs in: `name` where given (an error if that runtime cannot open it), else the
    suffix's default; files no runtime claims are PyTorch checkpoints."""
    if name is None:
        return _claimed(path) or next(r for r in runtimes() if not r.suffixes)
    runtime = named(name)
    if not runtime.opens(path):
        able = [r.name for r in runtimes() if r.opens(path)]
        raise EdgeresError(
            f"{path}: a {path.suffix or 'checkpoint'} file runs in {' or '.join(able)}, not --runtime {name}"
        )
    return runtime


def board_suffixes() -> tuple[str, ...]:
    """Files the torch-free board runner can run."""
    return tuple(dict.fromkeys(s for r in runtimes() if r.board for s in r.suffixes))


def packages(board: bool = False) -> tuple[str, ...]:
    """Every distribution a runtime comes from (board runtimes only with `board`), once each, in order."""
    found = [p for r in runtimes() if r.board or not board for p in (*r.packages, *r.requires)]
    return tuple(dict.fromkeys(found))


def usable(installed: dict[str, str | None], board: bool = True) -> list[Runtime]:
    """The runtimes that `installed` (distribution -> version or None) provides."""
    return [
        r
        for r in runtimes()
        if (r.board or not board)
        and any(installed.get(p) for p in r.packages)
        and all(installed.get(p) for p in r.requires)
    ]


def installed_here() -> list[Runtime]:
    """The runtimes this Python environment has installed (any, board or not)."""
    from .._packages import installed

    return usable(installed(packages()), board=False)
