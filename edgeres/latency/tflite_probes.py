"""TFLite latency probes, converted from a one-conv torch module by litert-torch (under a second each here) in
NHWC end to end, as an exported network runs its convs: no layout transposes that a network would not have."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from .._quiet import native_stderr_silenced, quiet_litert_converter
from ..errors import ExportError
from ..runtimes.embedded import IoSpec, metadata_entries
from ..runtimes.tflite_metadata import write_metadata
from .layers import ConvShape
from .probes import probe_card, quantize_probe
from .setting import LatencySetting

quiet_litert_converter()


class _Nhwc(nn.Module):
    """NHWC in and out around an NCHW module; the converter folds the permutes into NHWC kernels."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # type: ignore[no-any-return]


class TfliteProbes:
    suffix = ".tflite"

    def conv(self, shape: ConvShape, cin: int, cout: int, out: Path, setting: LatencySetting) -> Path:
        torch.manual_seed(cin * 1000 + cout)
        conv = nn.Conv2d(
            cin,
            cout,
            shape.kernel,
            stride=shape.stride,
            padding=shape.padding,
            dilation=shape.dilation,
            groups=shape.groups_at(cin),
        )
        with torch.no_grad():
            conv.weight.abs_()  # outputs above zero after the ReLU (see `null`); values do not change the speed
        return self._finish(shape, cin, cout, nn.Sequential(conv, nn.ReLU()), out, setting)

    def null(self, shape: ConvShape, cin: int, out: Path, setting: LatencySetting) -> Path:
        """A 1x1 conv to one channel (H*W*cin MACs), not a bare ReLU: an int8 RELU alone is not delegated to
        XNNPACK, and the graph split made it three times slower than a 64-channel 3x3 conv probe (AMX Xeon,
        ai-edge-litert 2.3). Its weights average the input: random ones can leave every output at zero after
        the ReLU, and XNNPACK refuses the int8 scale of an all-zero range."""
        conv = nn.Conv2d(cin, 1, 1, bias=False)
        with torch.no_grad():
            conv.weight.fill_(1.0 / cin)
        return self._finish(shape, cin, 1, nn.Sequential(conv, nn.ReLU()), out, setting)

    def _finish(
        self, shape: ConvShape, cin: int, cout: int, module: nn.Module, out: Path, setting: LatencySetting
    ) -> Path:
        logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)  # litert-torch's enums
        import litert_torch

        example = torch.zeros(1, shape.height, shape.width, cin)
        try:
            with native_stderr_silenced():
                blob = litert_torch.convert(_Nhwc(module).eval(), (example,)).model_content()
        except Exception as exc:  # the converter raises many types; all mean "cannot convert"
            raise ExportError(f"a TFLite latency probe ({shape.key()}, {cin}->{cout}) did not convert: {exc}") from None
        card, io = probe_card(shape, cout), IoSpec("tflite", layout="nhwc", batch=1)
        fp32 = out.with_name(out.stem + "-fp32.tflite") if setting.precision == "int8" else out
        fp32.write_bytes(write_metadata(blob, metadata_entries(card, io)))
        if setting.precision == "int8":
            quantize_probe(fp32, out, setting, card, cin)
        return out


PROBES = TfliteProbes()
