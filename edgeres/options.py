"""How to read a model and how to run it: the typed options every layer passes on, never a dict of keywords.

Torch-free (the board runner reads them). Built by the CLI from flags and by the pipeline from its config,
both through these constructors, so a misspelt option is an error where it is made, not a key that some
layer below silently ignores. `to_dict`/`from_dict` carry them to torchrun ranks as JSON.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import EdgeresError

DEVICES = ("cpu", "cuda")
PRECISIONS = ("f32", "default")  # OpenVINO inference precision settings (RuntimeOptions.precision)
_T = TypeVar("_T")


@dataclass(frozen=True)
class CardOverrides:
    """Model card fields given by flags (strings as typed: the card coerces and checks them)."""

    input_size: str | None = None  # "224" or "224x192"
    resize: int | str | None = None
    mean: str | None = None  # three comma-separated values
    std: str | None = None
    labels: tuple[str, ...] | None = None
    interpolation: str | None = None

    def given(self) -> dict[str, Any]:
        """The overrides that were given, as card fields (the card's OVERRIDABLE names)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True, kw_only=True)  # built by keyword: no silent swap of two settings
class LoadOptions:
    """How to read a checkpoint (`arch`, `trust`, `key`, `card_file`: checkpoints only) and what to override
    in any model's card (`num_classes` is checked against the weights or the file, never imposed)."""

    arch: str | None = None
    num_classes: int | None = None
    trust: bool = False  # allow pickled modules / TorchScript: runs code from the file
    key: str | None = None  # dict key or parameter prefix of the weights inside the file
    card_file: str | None = None
    overrides: CardOverrides = field(default_factory=CardOverrides)

    def __post_init__(self) -> None:
        if self.num_classes is not None and self.num_classes < 1:
            raise EdgeresError(f"--num-classes must be 1 or more, got {self.num_classes}")

    def checkpoint_flags(self) -> list[str]:
        """The flags given that only a checkpoint can honour (an exported file refuses them)."""
        given = {"--arch": self.arch, "--trust": self.trust, "--key": self.key, "--card": self.card_file}
        return [flag for flag, value in given.items() if value]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadOptions:
        """Rebuild from `to_dict`; an unknown key is an error."""
        fields = dict(data)
        overrides = fields.pop("overrides", None) or {}
        if overrides.get("labels") is not None:
            overrides = {**overrides, "labels": tuple(overrides["labels"])}
        return _build(cls, {**fields, "overrides": _build(CardOverrides, overrides, "card overrides")}, "load options")


@dataclass(frozen=True, kw_only=True)  # built by keyword: no silent swap of two settings
class RuntimeOptions:
    """How a runtime runs a file: threads and device for all; the rest only for the runtimes that declare them
    (runtimes.registry.Runtime.options) and refused by the others."""

    threads: int | None = None  # None: the runtime's default
    device: str = "cpu"
    provider: str | None = None  # onnxruntime on CUDA: cuda, tensorrt or tensorrt-fp16
    fp16: bool = False  # PyTorch: run in float16
    compile_mode: str | None = None  # PyTorch: torch.compile mode
    cuda_graphs: bool = False  # PyTorch on CUDA: time one graph replay per call
    # OpenVINO's inference precision: "f32", or "default" (the plugin's own: bf16 on AMX/AVX512_BF16 CPUs).
    # None: by file kind, f32 for float files (what edgeres verified), the plugin's default for int8 files.
    precision: str | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise EdgeresError(f"--threads must be 1 or more, got {self.threads}")
        if self.device not in DEVICES:
            raise EdgeresError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise EdgeresError(f"--ov-precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def specific(self) -> dict[str, Any]:
        """The runtime-specific options that were given (those other than threads and device)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("threads", "device") and v}

    def keeping(self, names: tuple[str, ...]) -> RuntimeOptions:
        """A copy with only the runtime-specific options in `names` kept (the others at their defaults)."""
        dropped = {k: getattr(RuntimeOptions(), k) for k in self.specific() if k not in names}
        return dataclasses.replace(self, **dropped)


def _build(cls: type[_T], data: Mapping[str, Any], what: str) -> _T:
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise EdgeresError(f"unknown {what} {unknown}; known: {sorted(known)}")
    return cls(**data)
