"""The export formats, each declared once in its own module; torch-free, imports no converter or runtime.

A format module (edgeres/formats/<name>.py) declares `FORMAT = Format(...)`: its suffix and magic bytes, its
exporter, the packages that write it, its int8 engine with the recipes and methods that engine offers, and
its latency probes. Listing the module in MODULES is its whole registration. Everything that names formats
reads them from here: the CLI's choices and help, export and quantize dispatch, latency pruning, the
pipeline's schema, the export cache key, the manifest, the runtimes' file suffixes and the tests.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EdgeresError

MODULES = ("onnx", "tflite", "pte")  # listing order; each module is named for the format it declares
DEFAULT = MODULES[0]  # the format used where none is named (latency models, a runtime-less profile)


@dataclass(frozen=True)
class Signature:
    """Bytes a file of the format has at `offset` (a flatbuffer's file identifier, a protobuf's first tag)."""

    offset: int
    data: bytes

    def matches(self, head: bytes) -> bool:
        return head[self.offset : self.offset + len(self.data)] == self.data


@dataclass(frozen=True)
class Int8Support:
    """How a format's int8 files are made: one engine, the recipes it offers per target and its methods.

    `recipe(target, method, io)` builds the engine's frozen recipe (method and io already checked against
    `methods` and `ios`). `from_model` engines quantize the PyTorch program (the fp32 file of the format is
    only what the result is measured against); the others quantize an fp32 file of the format.
    """

    engine: str  # "module:class" of an Int8Engine, constructed by edgeres.quantize.engine.open_engine
    recipe: Callable[[str, str, str], Any]
    methods: tuple[str, ...]  # the first is the default
    packages: tuple[str, ...]  # what makes and checks the int8 file, recorded in its report
    ios: tuple[str, ...] = ("float",)  # interface types of the int8 file; the first is the default
    from_model: bool = False
    qat: str | None = None  # "module:class" reading the engine's grids for QAT (a qat.train.GridReader); None: none


@dataclass(frozen=True)
class Format:
    """One export format: what its files look like and what makes, quantizes and times them."""

    name: str  # the --format value
    title: str  # for messages
    suffix: str
    signature: Signature
    exporter: str  # "module:class" of an Exporter
    packages: tuple[str, ...]  # what converts to it (part of the export cache key and the run manifest)
    int8: Int8Support | None = None
    probes: str | None = None  # "module:object" of its latency probe builder, None: no latency model
    pipeline_default: bool = False  # exported by a pipeline whose [export] formats are not given

    def load(self, ref: str) -> Any:
        module, _, name = ref.partition(":")
        return getattr(importlib.import_module(module), name)


@functools.cache
def formats() -> tuple[Format, ...]:
    """Every registered format, in MODULES order."""
    found = tuple(importlib.import_module(f"{__package__}.{module}").FORMAT for module in MODULES)
    assert tuple(f.name for f in found) == MODULES, "a format module is named for its format"
    return found


def names() -> tuple[str, ...]:
    return tuple(f.name for f in formats())


def int8_names() -> tuple[str, ...]:
    """The formats edgeres quantizes to int8."""
    return tuple(f.name for f in formats() if f.int8 is not None)


def qat_names() -> tuple[str, ...]:
    """The int8 formats whose engine's grid quantization-aware fine-tuning can simulate."""
    return tuple(f.name for f in formats() if f.int8 is not None and f.int8.qat is not None)


def probe_names() -> tuple[str, ...]:
    """The formats latency pruning can time (they have probes)."""
    return tuple(f.name for f in formats() if f.probes is not None)


def suffixes() -> tuple[str, ...]:
    return tuple(f.suffix for f in formats())


def named(name: str) -> Format:
    """The format called `name`; EdgeresError listing the choices otherwise."""
    for fmt in formats():
        if fmt.name == name:
            return fmt
    raise EdgeresError(f"unknown format {name!r}; choose one of {', '.join(names())}")


def int8_support(name: str) -> Int8Support:
    """How format `name` is quantized; EdgeresError naming the formats that are, when it is not."""
    support = named(name).int8
    if support is None:
        raise EdgeresError(f"no int8 engine for {name} files; choose one of {', '.join(int8_names())}")
    return support


def by_suffix(path: str | Path) -> Format | None:
    """The format whose suffix `path` has (case-insensitive), None for anything else (e.g. a checkpoint)."""
    suffix = Path(path).suffix.lower()
    return next((f for f in formats() if f.suffix == suffix), None)


def by_content(path: str | Path) -> Format | None:
    """The format whose signature the file's first bytes carry, None when none does or it cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    return next((f for f in formats() if f.signature.matches(head)), None)


def disguised(path: str | Path) -> Format | None:
    """The format a file really is when its suffix names another one (its bytes carry that one's signature and
    not its suffix's own); None otherwise."""
    claimed, actual = by_suffix(path), by_content(path)
    if claimed is None or actual is None or actual == claimed:
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return None
    return None if claimed.signature.matches(head) else actual


def listing(separator: str = ", ") -> str:
    """The suffixes for help texts: ".onnx, .tflite, ..." in registry order."""
    return separator.join(suffixes())


def method_help() -> str:
    """Each int8 format's calibration methods, its default first: "onnx: percentile (default), minmax; ..."."""
    return "; ".join(
        f"{f.name}: {f.int8.methods[0]} (default)" + "".join(f", {m}" for m in f.int8.methods[1:])
        for f in formats()
        if f.int8 is not None
    )


def io_choices() -> tuple[str, ...]:
    """Every interface type some int8 format offers."""
    return tuple(dict.fromkeys(io for f in formats() if f.int8 is not None for io in f.int8.ios))


def io_help() -> str:
    """Which formats offer which interface types: "float: onnx, tflite, pte; int8: tflite"."""
    return "; ".join(
        f"{io}: {', '.join(f.name for f in formats() if f.int8 is not None and io in f.int8.ios)}"
        for io in io_choices()
    )


def packages(int8: bool = True) -> tuple[str, ...]:
    """Every distribution that writes (and, with `int8`, quantizes) some format, once each, in order."""
    found = [p for f in formats() for p in (*f.packages, *(f.int8.packages if int8 and f.int8 else ()))]
    return tuple(dict.fromkeys(found))


def writable() -> tuple[str, ...]:
    """The formats this Python environment can write (every package of its converter installed)."""
    from .._packages import installed

    return tuple(f.name for f in formats() if all(installed(f.packages).values()))
