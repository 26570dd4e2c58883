"""ONNX export through torch.onnx's dynamo exporter: one self-contained file, card in metadata_props."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from ..card import ModelCard
from ..errors import ExportError
from ..predict import Predictor
from ..runtimes.embedded import IoSpec, metadata_entries
from .base import ExportWrapper, conversion_error, example_input

OPSET = 18  # the first opset the dynamo exporter targets fully; every current onnxruntime runs it
PROTOBUF_LIMIT = 2**31 - 1


class OnnxExporter:
    name = "onnx"
    default_layout = "nchw"
    default_batch: int | None = None

    def export(self, model: nn.Module, card: ModelCard, out: Path, io: IoSpec) -> None:
        """Write `out`; raise ExportError when conversion fails or the model needs external data."""
        import onnx

        half = io.precision == "float16"
        wrapped = ExportWrapper(copy.deepcopy(model) if half else model, io.layout, half).eval()
        dynamic = ({0: torch.export.Dim("batch")},) if io.batch is None else None
        try:
            program = torch.onnx.export(
                wrapped,
                (example_input(card, io, io.batch or 2),),  # 2: a batch of 1 would be specialised away
                dynamo=True,
                opset_version=OPSET,
                input_names=[io.input_name],
                output_names=[io.output_name],
                dynamic_shapes=dynamic,
                external_data=False,
                verbose=False,
            )
        except Exception as exc:  # torch.export raises many types; all mean "cannot convert"
            raise conversion_error("ONNX", model, exc) from None
        if program is None:
            raise ExportError("torch.onnx.export returned no program")
        proto = program.model_proto
        if sum(p.numel() for p in model.parameters()) * (2 if half else 4) > PROTOBUF_LIMIT:
            raise ExportError("model is over 2 GB, the limit of a single-file ONNX model")
        for key, value in metadata_entries(card, io).items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(out))
        onnx.checker.check_model(str(out), full_check=True)

    def open(self, path: Path) -> Predictor:
        from ..runtimes.onnxruntime import OrtPredictor

        return OrtPredictor(path)
