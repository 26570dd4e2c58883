"""ExecuTorch int8: ExecuTorch's XNNPACKQuantizer through PyTorch 2 export quantization (PT2E), lowered to XNNPACK.

The ONNX and TFLite engines quantize an fp32 file; PT2E quantizes the PyTorch program. The model is exported
once with a dynamic batch (calibration runs in batches), its batch norms folded as prepare_pt2e folds them (so
that the float reference and the int8 program compare layer by layer), annotated by the quantizer, observed on
the calibration images, converted, exported again at the file's batch and lowered. A layer kept in float
loses its annotation: XNNPACK then runs it in float32 between int8 neighbours.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._quiet import drop_torch_enum_notice
from ..card import ModelCard
from ..errors import RecipeError
from ..export.base import ExportWrapper, conversion_error, example_input
from ..export.pte import lower_to_pte
from ..formats.pte import XnnpackPt2eInt8
from ..runtimes.embedded import IoSpec, metadata_entries
from .calibration import CalibrationSet
from .check import SQNR_CAP_DB
from .engine import WIDE_IN_FLOAT, Int8Job
from .layers import Layer, conv_name
from .range_search import Histogram
from .recipes import embedded_record

QUANTIZED_OPS = {"aten.conv2d.default": "conv2d", "aten.linear.default": "linear", "aten.add.Tensor": "add"}
CALIBRATION_BATCH = 32
MAX_BATCH = 4096  # the dynamic batch's bound while calibrating; the file itself has the card's fixed batch

drop_torch_enum_notice()  # before the torchao and ExecuTorch imports in this module's functions


class PteInt8Engine:
    """Quantizes one PyTorch model to int8 .pte files, any number of times (fallback, range search)."""

    wide_kind = WIDE_IN_FLOAT  # XNNPACK has no 16x8 kernels: a wide layer runs in float32

    @classmethod
    def for_job(cls, job: Int8Job) -> PteInt8Engine:
        """The engine for `job.model`, keeping the I/O of the float program `job.fp32` it is measured against."""
        from ..runtimes.executorch import ExecuTorchPredictor

        assert isinstance(job.recipe, XnnpackPt2eInt8), "the pte format's recipes are XnnpackPt2eInt8"
        if job.model is None:
            raise RecipeError(
                f"{job.fp32}: int8 .pte programs are quantized from the PyTorch model (the engine works on the "
                "program before lowering); quantize the checkpoint instead"
            )
        predictor = ExecuTorchPredictor(job.fp32)
        try:
            io = predictor.io
        finally:
            predictor.close()
        return cls(job.model, job.recipe, job.calib, job.card, io)

    def __init__(self, model: nn.Module, recipe: XnnpackPt2eInt8, calib: CalibrationSet, card: ModelCard, io: IoSpec):
        from torchao.quantization.pt2e import generate_numeric_debug_handle
        from torchao.quantization.pt2e.utils import _fuse_conv_bn_  # what prepare_pt2e folds, folded up front

        self.recipe, self.calib, self.card, self.io = recipe, calib, card, io
        calib.require(io.batch, f"the {card.arch} .pte")
        wrapped = ExportWrapper(copy.deepcopy(model), io.layout).eval()
        batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
        try:
            program = torch.export.export(wrapped, (example_input(card, io, 2),), dynamic_shapes=({0: batch},))
        except Exception as exc:  # torch.export raises many types; all mean "cannot convert"
            raise conversion_error("ExecuTorch", wrapped, exc) from None
        generate_numeric_debug_handle(program)  # sensitivity pairs float and int8 nodes by these handles
        self.graph: Any = program.module()
        _fuse_conv_bn_(self.graph)
        self.layers = [
            Layer(_layer_name(node), QUANTIZED_OPS[str(node.target)], node.name)
            for node in self.graph.graph.nodes
            if node.op == "call_function" and str(node.target) in QUANTIZED_OPS
        ]
        self.ranges: dict[str, tuple[float, float]] | None = None  # set: these ranges replace the observers'
        self.wide: list[Layer] = []
        self.converted: Any = None  # the last quantize's int8 program, before lowering
        self._observed: dict[frozenset[str], Any] = {}  # calibrated programs, by the node names kept in float

    def _inputs(self, images: np.ndarray) -> torch.Tensor:
        laid_out = images.transpose(0, 2, 3, 1) if self.io.layout == "nhwc" else images
        return torch.from_numpy(np.ascontiguousarray(laid_out))

    def _calibrated(self, floating: frozenset[str]) -> Any:
        """The program with observers fed the calibration images, `floating` nodes left unannotated."""
        if floating not in self._observed:
            from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

            prepared = prepare_pt2e(copy.deepcopy(self.graph), _quantizer(self.recipe, floating))
            inputs = self._inputs(self.calib.inputs)
            with torch.no_grad():
                for start in range(0, len(inputs), CALIBRATION_BATCH):
                    prepared(inputs[start : start + CALIBRATION_BATCH])
            self._observed = {floating: prepared}  # one kept: fallback moves on, range search reuses it
        return self._observed[floating]

    def _floating(self, exclude: list[Layer]) -> frozenset[str]:
        return frozenset(layer.key for layer in [*exclude, *self.wide])

    def histograms(self) -> dict[str, Histogram]:
        """Each histogram observer's counts over the calibration images, by the node it observes (from the
        program last calibrated: range search runs after a quantize with the same layers in float)."""
        found: dict[str, Histogram] = {}
        prepared = next(iter(self._observed.values())) if self._observed else self._calibrated(self._floating([]))
        for node, observer in _observers(prepared):
            if not hasattr(observer, "histogram") or node in found:  # minmax observers keep no histogram
                continue
            lo, hi = float(observer.min_val), float(observer.max_val)
            if hi > lo:
                counts = observer.histogram.detach().numpy()
                found[node] = Histogram(counts, np.linspace(lo, hi, len(counts) + 1), lo, hi)
        return found

    def quantize(self, out: Path, exclude: list[Layer]) -> None:
        """Write the int8 program to `out`, keeping `exclude` (and the wide layers) in float."""
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

        prepared = copy.deepcopy(self._calibrated(self._floating(exclude)))
        if self.ranges:
            _set_ranges(prepared, self.ranges)
        self.converted = convert_pt2e(prepared)
        io = dataclasses.replace(self.io, precision="int8")
        entries = metadata_entries(self.card, io, embedded_record(self.recipe))
        out.write_bytes(lower_to_pte(self.converted, example_input(self.card, self.io, self.io.batch or 1), entries))

    def sensitivity(self, int8: Path, inputs: np.ndarray) -> list[tuple[Layer, float]]:
        """SQNR (dB) of each layer's output in the last int8 program against float, worst first, through
        torchao's numeric debugger (it pairs nodes by the handles set at export)."""
        from torchao.quantization.pt2e import (
            compare_results,
            extract_results_from_loggers,
            prepare_for_propagation_comparison,
        )

        x = self._inputs(inputs)
        logged = []
        for program in (self.graph, self.converted):
            with_loggers = prepare_for_propagation_comparison(copy.deepcopy(program))
            with torch.no_grad():
                with_loggers(x)
            logged.append(extract_results_from_loggers(with_loggers))
        by_key = {layer.key: layer for layer in self.layers}
        scored = [
            (by_key[summary.ref_node_name], min(SQNR_CAP_DB, float(summary.results[0].sqnr)))
            for summary in compare_results(*logged).values()
            if summary.ref_node_name in by_key and summary.results
        ]
        return sorted(scored, key=lambda item: item[1])


def _layer_name(node: Any) -> str:
    """The module path a node came from, as the other engines name it (`layer1.0.conv1`, `layer1.0` for an add)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return str(node.name)
    path, module_class = next(reversed(stack.values()))
    kind = module_class if isinstance(module_class, str) else getattr(module_class, "__name__", None)
    return conv_name(path.removeprefix("model").removeprefix("."), kind) or str(node.name)


def _observers(prepared: Any) -> list[tuple[str, Any]]:
    """(observed node's name, activation observer) for every observer PT2E inserted."""
    return [
        (node.args[0].name, prepared.get_submodule(node.target))
        for node in prepared.graph.nodes
        if node.op == "call_module" and str(node.target).startswith("activation_post_process")
    ]


def _set_ranges(prepared: Any, ranges: dict[str, tuple[float, float]]) -> None:
    """Replace the observers of the ranged nodes by ones that report exactly those ranges."""
    from torchao.quantization.pt2e import MinMaxObserver

    for node in prepared.graph.nodes:
        if node.op != "call_module" or not str(node.target).startswith("activation_post_process"):
            continue
        if node.args[0].name not in ranges:
            continue
        old = prepared.get_submodule(node.target)
        fixed = MinMaxObserver(
            dtype=old.dtype, qscheme=old.qscheme, quant_min=old.quant_min, quant_max=old.quant_max, eps=float(old.eps)
        )
        fixed(torch.tensor(ranges[node.args[0].name], dtype=torch.float32))
        setattr(prepared, str(node.target), fixed)


def _quantizer(recipe: XnnpackPt2eInt8, floating: frozenset[str]) -> Any:
    """ExecuTorch's XNNPACKQuantizer with the recipe's observers, leaving `floating` nodes unannotated (its own
    set_module_name cannot take None, and a node is finer than a module)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    class Excluding(XNNPACKQuantizer):  # type: ignore[misc]
        def annotate(self, model: Any) -> Any:
            model = super().annotate(model)
            for node in model.graph.nodes:
                if node.name in floating:
                    node.meta.pop("quantization_annotation", None)
            return model

    config = get_symmetric_quantization_config(is_per_channel=True)
    if recipe.method == "minmax":  # the default observers are histograms (L2-optimal ranges)
        from torchao.quantization.pt2e import MinMaxObserver

        observer = MinMaxObserver.with_args(eps=2**-12)
        spec = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=observer)
        config = dataclasses.replace(config, input_activation=spec, output_activation=spec)
    return Excluding().set_global(config)
