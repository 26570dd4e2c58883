"""The convs of a model as the latency model sees them: a shape class (kernel, stride, map size, groups) and
the two channel counts pruning changes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ConvShape:
    """What a conv's latency depends on besides its channel counts. `depthwise`: groups follow the width."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    depthwise: bool
    height: int  # of the input map
    width: int

    def key(self) -> str:
        """A stable text key for caches and reports."""
        parts = [
            f"k{self.kernel[0]}x{self.kernel[1]}",
            f"s{self.stride[0]}x{self.stride[1]}",
            f"p{self.padding[0]}x{self.padding[1]}",
            f"d{self.dilation[0]}x{self.dilation[1]}",
            "dw" if self.depthwise else f"g{self.groups}",
            f"{self.height}x{self.width}",
        ]
        return "-".join(parts)

    def groups_at(self, cin: int) -> int:
        return cin if self.depthwise else self.groups


@dataclass(frozen=True)
class ConvLayer:
    name: str
    shape: ConvShape
    cin: int
    cout: int

    @property
    def stage(self) -> str:
        """The output map size, e.g. "16x16": convs that share it form one stage of the network."""
        out = [
            (size + 2 * pad - dil * (k - 1) - 1) // stride + 1
            for size, pad, dil, k, stride in zip(
                (self.shape.height, self.shape.width),
                self.shape.padding,
                self.shape.dilation,
                self.shape.kernel,
                self.shape.stride,
                strict=True,
            )
        ]
        return f"{out[0]}x{out[1]}"


def _pair(value: int | tuple[int, ...] | str) -> tuple[int, int]:
    if isinstance(value, str):  # padding="same"/"valid" is resolved by the caller
        raise ValueError(value)
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


def _padding(conv: nn.Conv2d) -> tuple[int, int]:
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        return (conv.dilation[0] * (conv.kernel_size[0] - 1) // 2, conv.dilation[1] * (conv.kernel_size[1] - 1) // 2)
    return _pair(conv.padding)


def conv_layers(model: nn.Module, input_size: tuple[int, int]) -> list[ConvLayer]:
    """Every Conv2d of `model` with its input map size, from one forward pass on a zero image."""
    found: list[ConvLayer] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(conv: nn.Module, inputs: tuple[torch.Tensor, ...], _: object) -> None:
        assert isinstance(conv, nn.Conv2d)
        height, width = inputs[0].shape[-2:]
        depthwise = conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels
        shape = ConvShape(
            _pair(conv.kernel_size),
            _pair(conv.stride),
            _padding(conv),
            _pair(conv.dilation),
            conv.groups,
            depthwise,
            int(height),
            int(width),
        )
        found.append(ConvLayer(names[conv], shape, conv.in_channels, conv.out_channels))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, *input_size))
    finally:
        for handle in handles:
            handle.remove()
    return found
