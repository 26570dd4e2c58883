"""What every exporter shares: options, the Exporter protocol, looking one up, and the model wrapper."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from ..card import ModelCard
from ..errors import ExportError
from ..formats import registry
from ..predict import Predictor
from ..runtimes.embedded import IoSpec

LAYOUTS = ("nchw", "nhwc")


@dataclass(frozen=True)
class ExportOptions:
    """User choices; None means the format's default (ONNX: NCHW, dynamic batch; TFLite: NHWC, batch 1)."""

    fp16: bool = False
    layout: str | None = None
    batch: int | str | None = None  # an int, "dynamic", or None for the default


class Exporter(Protocol):
    """Writes one format (declared in edgeres/formats/) and opens it again in that format's runtime."""

    name: str  # the format's name
    default_layout: str
    default_batch: int | None

    def export(self, model: nn.Module, card: ModelCard, out: Path, io: IoSpec) -> None: ...

    def open(self, path: Path) -> Predictor: ...


def get_exporter(fmt: str) -> Exporter:
    """The exporter that `fmt` declares. Raises ExportError listing the formats."""
    if fmt not in registry.names():
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(registry.names())}")
    declared = registry.named(fmt)
    exporter: Exporter = declared.load(declared.exporter)()
    return exporter


def resolve_io(exporter: Exporter, options: ExportOptions) -> IoSpec:
    """Turn options into the IoSpec the file will carry. Raises ExportError on invalid choices."""
    layout = options.layout or exporter.default_layout
    if layout not in LAYOUTS:
        raise ExportError(f"--layout must be one of {LAYOUTS}, got {layout!r}")
    batch: int | None
    if options.batch is None:
        batch = exporter.default_batch
    elif options.batch == "dynamic":
        batch = None
    else:
        try:
            batch = int(options.batch)
        except ValueError:
            raise ExportError(f"--batch must be a positive integer or 'dynamic', got {options.batch!r}") from None
        if batch < 1:
            raise ExportError(f"--batch must be a positive integer or 'dynamic', got {batch}")
    precision = "float16" if options.fp16 else "float32"
    return IoSpec(format=exporter.name, layout=layout, batch=batch, precision=precision)


class ExportWrapper(nn.Module):
    """The graph that gets exported: optional NHWC input, optional float16 compute with float32 I/O."""

    def __init__(self, model: nn.Module, layout: str, half: bool = False) -> None:
        super().__init__()
        self.model = model.half() if half else model
        self.nhwc = layout == "nhwc"
        self.float16 = half

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        if self.float16:
            return self.model(x.half()).float()  # type: ignore[no-any-return]
        return self.model(x)  # type: ignore[no-any-return]


def example_input(card: ModelCard, io: IoSpec, batch: int) -> torch.Tensor:
    height, width = card.input_size
    shape = (batch, height, width, 3) if io.layout == "nhwc" else (batch, 3, height, width)
    return torch.zeros(shape)


def conversion_error(fmt: str, model: nn.Module, exc: BaseException) -> ExportError:
    """A converter failure as one line naming the layers that are not plain ResNet parts."""
    plain = {
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
        "Linear",
        "MaxPool2d",
        "AdaptiveAvgPool2d",
        "Identity",
        "PadShortcut",
    }
    unusual = [
        f"{n} ({type(m).__name__})"
        for n, m in model.named_modules()
        if not list(m.children()) and type(m).__name__ not in plain
    ]
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    suspects = f"; layers outside a plain ResNet: {', '.join(unusual[:5])}" if unusual else ""
    return ExportError(f"{fmt} conversion failed: {detail}{suspects}")
