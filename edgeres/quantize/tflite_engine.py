"""TFLite full int8 through ai-edge-quantizer on the fp32 .tflite, calibrating once (cached on disk)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._io import read_cache_json, write_cache_json
from ..card import ModelCard
from ..formats.tflite import LiteRtFullInt8
from ..runtimes.embedded import IoSpec, card_from_entries, metadata_entries
from ..runtimes.tflite_metadata import read_metadata, write_metadata
from .calibration import CalibrationSet
from .engine import WIDE_IN_FLOAT, Int8Job
from .layers import Layer, conv_name
from .range_search import Histogram
from .recipes import embedded_record

QUANTIZED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD")


class TfliteInt8Engine:
    """Quantizes one fp32 .tflite, any number of times (fallback), calibrating once."""

    @classmethod
    def for_job(cls, job: Int8Job) -> TfliteInt8Engine:
        assert isinstance(job.recipe, LiteRtFullInt8), "the tflite format's recipes are LiteRtFullInt8"
        return cls(job.fp32, job.recipe, job.calib, job.card, job.cache)

    def __init__(self, fp32: Path, recipe: LiteRtFullInt8, calib: CalibrationSet, card: ModelCard, cache: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.blob, self.recipe, self.calib, self.card = fp32.read_bytes(), recipe, calib, card
        _, self.io = card_from_entries(read_metadata(self.blob), fp32)
        calib.require(self.io.batch or 1, fp32.name)
        interpreter = Interpreter(model_content=self.blob)
        self.signature, spec = next(iter(interpreter.get_signature_list().items()))
        self.input_name = spec["inputs"][0]
        names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
        self.layers = [
            Layer(from_tflite_tensor(names[op["outputs"][0]], op["op_name"]), op["op_name"], names[op["outputs"][0]])
            for op in interpreter._get_ops_details()
            if op["op_name"] in QUANTIZED_OPS
        ]
        key = hashlib.sha256(self.blob + f"{calib.files_sha256}{recipe.method}".encode()).hexdigest()[:20]
        cache.mkdir(parents=True, exist_ok=True)
        self.cache_path = cache / f"aeq-calibration-{key}.json"
        self.quantizer: Any = None
        self.ranges: dict[str, tuple[float, float]] | None = None  # set: these ranges replace calibration's
        self.wide: list[Layer] = []  # layers kept in float: XNNPACK has no 16x8 kernels to widen them to
        self.wide_kind = WIDE_IN_FLOAT

    def _samples(self, inputs: np.ndarray) -> list[dict[str, np.ndarray]]:
        data = inputs.transpose(0, 2, 3, 1) if self.io.layout == "nhwc" else inputs
        batch = self.io.batch or 1
        return [
            {self.input_name: np.ascontiguousarray(data[i : i + batch])} for i in range(0, len(data) - batch + 1, batch)
        ]

    def _new_quantizer(self, exclude: list[Layer]) -> Any:
        from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe

        algorithm = (
            algorithm_manager.AlgorithmName.MSE
            if self.recipe.method == "mse"
            else algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT
        )
        quant = quantizer.Quantizer(self.blob)
        quant.load_quantization_recipe(recipe.static_wi8_ai8(algorithm_key=algorithm))
        if self.recipe.io == "float":
            for op in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
                quant.update_quantization_recipe(regex=".*", operation_name=op, algorithm_key="no_quantize")
        for layer in exclude:
            quant.update_quantization_recipe(
                regex=re.escape(layer.key),
                operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                algorithm_key="no_quantize",
            )
        return quant

    def _calibration(self, quant: Any) -> dict[str, Any]:
        stored = read_cache_json(self.cache_path)
        if stored is not None:
            return {name: {k: np.asarray(v, np.float32) for k, v in qsv.items()} for name, qsv in stored.items()}
        with _quiet():
            result = quant.calibrate(
                {self.signature: self._samples(self.calib.inputs)}, num_threads=os.cpu_count() or 1
            )
        serialisable = {name: {k: np.asarray(v).tolist() for k, v in qsv.items()} for name, qsv in result.items()}
        write_cache_json(self.cache_path, serialisable)
        return dict(result)

    def _ranged(self, calibration: dict[str, Any]) -> dict[str, Any]:
        if self.ranges is None:
            return calibration
        ranged = dict(calibration)
        for name, (lo, hi) in self.ranges.items():
            if name in ranged:
                shape = np.shape(ranged[name]["min"])
                ranged[name] = {"min": np.full(shape, lo, np.float32), "max": np.full(shape, hi, np.float32)}
        return ranged

    def histograms(self) -> dict[str, Histogram]:
        """Value histograms of every tensor the calibration ranges cover, over the calibration images."""
        from ai_edge_litert.interpreter import Interpreter

        with _quiet():
            wanted = set(self._calibration(self._new_quantizer([])))
        with _quiet():  # LiteRT warns that keeping every tensor is for debugging: here it is the point
            interpreter = Interpreter(model_content=self.blob, experimental_preserve_all_tensors=True)
        interpreter.allocate_tensors()
        details = [t for t in interpreter.get_tensor_details() if t["name"] in wanted]
        runner = interpreter.get_signature_runner(self.signature)
        values: dict[str, list[np.ndarray]] = {t["name"]: [] for t in details}
        for sample in self._samples(self.calib.inputs):
            runner(**sample)
            for tensor in details:
                values[tensor["name"]].append(interpreter.get_tensor(tensor["index"]).ravel().copy())
        found = {}
        for name, parts in values.items():
            data = np.concatenate(parts)
            if not np.isfinite(data).all():  # e.g. the -inf padding before a max pool: keep calibration's range
                continue
            lo, hi = float(data.min()), float(data.max())
            bound = max(abs(lo), abs(hi), 1e-12)
            counts, edges = np.histogram(data, 2048, range=(-bound, bound))
            found[name] = Histogram(counts, edges, lo, hi)
        return found

    def quantize(self, out: Path, exclude: list[Layer]) -> None:
        """Write the int8 model to `out`, keeping `exclude` in float."""
        with _quiet():
            quant = self._new_quantizer([*exclude, *self.wide])
            result = quant.quantize(self._ranged(self._calibration(quant)), enable_progress_report=False)
        self.quantizer = quant
        io = IoSpec(**{**self.io.__dict__, "precision": "int8"})
        out.write_bytes(
            write_metadata(bytes(result.quantized_model), metadata_entries(self.card, io, embedded_record(self.recipe)))
        )

    def sensitivity(self, int8: Path, inputs: np.ndarray) -> list[tuple[Layer, float]]:
        """SNR (dB) of each layer's int8 output against fp32, worst first, via ai-edge-quantizer's validator."""
        from ai_edge_quantizer.utils.validation_utils import ValidationErrorMetric

        by_key = {layer.key: layer for layer in self.layers}
        with _quiet():
            comparison = self.quantizer.validate(
                {self.signature: self._samples(inputs)},
                error_metrics=[ValidationErrorMetric.SNR],
                num_threads=os.cpu_count() or 1,
            )
        tensors = comparison.get_signature_comparison_result(self.signature)
        found = {**tensors.intermediate_tensors, **tensors.output_tensors}
        # The validator reports SNR as a power ratio; in dB it compares with onnxruntime's SQNR.
        scored = [
            (by_key[name], float(10 * np.log10(max(metrics["snr"], 1e-12))))
            for name, metrics in found.items()
            if name in by_key
        ]
        return sorted(scored, key=lambda item: item[1])


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ai-edge-quantizer draws its own tqdm bar and warns that validation keeps all tensors (it must)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore", UserWarning)
        yield


def from_tflite_tensor(name: str, op: str) -> str:
    """`.../Sequential_layer1/BasicBlock_0/Conv2d_conv1;1` -> `layer1.0.conv1`; an ADD is named by its block."""
    if "/" not in name:
        return "classifier" if op == "FULLY_CONNECTED" else name  # renamed graph outputs keep no path
    parts_of_name = name.split(";;")
    last = (parts_of_name[0] if op == "ADD" else parts_of_name[-1]).split(";")[0]
    segments = [segment for segment in last.split("/")[1:] if "_" in segment]
    parts = [segment.rsplit("_", 1)[-1] for segment in segments]
    module_class = segments[-1].rsplit("_", 1)[0] if segments else None
    return conv_name(".".join(parts).removeprefix("model").removeprefix("."), module_class) or name
