"""ONNX int8 through onnxruntime's quantize_static (QDQ), with its calibration cache and QDQ debugger."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np

from .._io import read_cache_json, write_cache_json
from ..card import ModelCard
from ..formats.onnx import OrtQdqInt8
from ..runtimes.embedded import IoSpec, metadata_entries
from .calibration import CalibrationSet
from .engine import Int8Job
from .layers import Layer, conv_name
from .onnx_graph import finish_file
from .range_search import Histogram
from .recipes import embedded_record

QUANTIZED_OPS = ("Conv", "Gemm", "MatMul", "Add")
_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


PASS_PIXELS = 64 * 3 * 224 * 224  # input values per calibration pass: 64 images at 224 (2 GB of activations)


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over an array, in the model's batch size."""

    def __init__(self, inputs: np.ndarray, name: str, batch: int | None) -> None:
        # Every batch has the same size: the histogram calibrators (percentile, entropy) stack the batches'
        # outputs into one array and fail on ragged ones. Dynamic batch: the largest size <= 32 that divides
        # the count, so no image is dropped (a prime count runs one at a time). Fixed batch: a ragged tail
        # cannot be fed, and is dropped.
        size = batch or next(b for b in range(min(32, max(1, len(inputs))), 0, -1) if len(inputs) % b == 0)
        self.chunks = [inputs[i : i + size] for i in range(0, len(inputs) - size + 1, size)]
        self.batches: Iterator[np.ndarray] = iter(self.chunks)
        self.name = name

    def __len__(self) -> int:
        return len(self.chunks)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Serve only batches [start, end): onnxruntime's strided calibration (CalibStridedMinMax) feeds its
        calibrator one stride at a time."""
        self.batches = iter(self.chunks[start_index:end_index])

    def stride(self) -> int:
        """Batches per calibration pass: onnxruntime's calibrators hold every activation of a pass in memory
        (resnet50 at 224 with 512 images needed over 24 GB in one pass), so a pass covers at most
        PASS_PIXELS input pixels; the stride divides the batch count, as onnxruntime requires."""
        if not self.chunks:
            return 1
        most = max(1, PASS_PIXELS // self.chunks[0].size)  # a chunk's size counts all its images' values
        return max(d for d in range(1, min(most, len(self)) + 1) if len(self) % d == 0)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {self.name: batch}

    def rewind(self) -> None:  # part of the protocol; each pass builds a new reader
        pass

    def __iter__(self) -> _Reader:  # the QDQ debugger iterates readers
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


class OnnxInt8Engine:
    """Quantizes one fp32 ONNX file, any number of times (fallback), calibrating once."""

    @classmethod
    def for_job(cls, job: Int8Job) -> OnnxInt8Engine:
        assert isinstance(job.recipe, OrtQdqInt8), "the onnx format's recipes are OrtQdqInt8"
        return cls(job.fp32, job.recipe, job.calib, job.card, job.cache)

    def __init__(self, fp32: Path, recipe: OrtQdqInt8, calib: CalibrationSet, card: ModelCard, cache: Path) -> None:
        import onnx

        self.fp32, self.recipe, self.calib, self.card = fp32, recipe, calib, card
        model = onnx.load(str(fp32), load_external_data=False)
        graph_input = model.graph.input[0]
        self.input_name = graph_input.name
        dim = graph_input.type.tensor_type.shape.dim[0]
        self.batch = dim.dim_value if dim.HasField("dim_value") else None
        calib.require(self.batch, fp32.name)
        self.layers = [
            Layer(from_onnx_scopes(*_scopes(node), fallback=node.name), node.op_type, node.name)
            for node in model.graph.node
            if node.op_type in QUANTIZED_OPS
        ]
        # Tensor -> the quantized layer whose (possibly ReLU-fused) output it is: onnxruntime folds a ReLU into
        # the op before it, so that op's int8 output carries the ReLU's tensor name.
        self.producers = {node.output[0]: node.name for node in model.graph.node if node.output}
        for node in model.graph.node:
            if node.op_type == "Relu" and node.input[0] in self.producers:
                self.producers[node.output[0]] = self.producers[node.input[0]]
        self.io = IoSpec(
            **json.loads({p.key: p.value for p in model.metadata_props}.get("edgeres.io", '{"format":"onnx"}'))
        )
        symmetric = recipe.activations == "int8"
        # The ranges depend on the model, the images, the method, symmetry and which ops are quantized.
        key = hashlib.sha256(fp32.read_bytes() + f"{calib.files_sha256}{recipe.method}{symmetric}ops=all".encode())
        cache.mkdir(parents=True, exist_ok=True)
        self.cache_path = cache / f"ort-calibration-{key.hexdigest()[:20]}.json"
        self.ranges: dict[str, tuple[float, float]] | None = None  # set: these ranges, not the recipe's method
        self.wide: list[Layer] = []  # layers whose input and output activations are quantized to 16 bits
        self.wide_kind = "16-bit activations"
        weights = {init.name for init in model.graph.initializer}
        self.activations = {  # node -> its activation inputs and outputs, a fused ReLU's output included
            node.name: [t for t in node.input if t and t not in weights]
            + [t for t, producer in self.producers.items() if producer == node.name]
            for node in model.graph.node
        }

    def _reader(self, inputs: np.ndarray) -> _Reader:
        """`inputs` (NCHW) served in the file's layout and batch size."""
        data = np.ascontiguousarray(inputs.transpose(0, 2, 3, 1)) if self.io.layout == "nhwc" else inputs
        return _Reader(data, self.input_name, self.batch)

    def quantize(self, out: Path, exclude: list[Layer]) -> None:
        """Write the int8 model to `out`, keeping `exclude` in float."""
        # Exports are already folded; 16-bit tensors (wider ends) need opset 21, which onnxruntime sets itself.
        quiet = _DropMessage("pre-processing before quantization", "does not support 16-bit integer quantization")
        logging.getLogger().addFilter(quiet)
        try:
            with contextlib.redirect_stdout(StringIO()):  # the calibrators print progress lines; ours is the bar
                self._quantize_static(out, exclude)
        finally:
            logging.getLogger().removeFilter(quiet)
        io = IoSpec(**{**self.io.__dict__, "precision": "int8"})
        finish_file(out, metadata_entries(self.card, io, embedded_record(self.recipe)))

    def _quantize_static(self, out: Path, exclude: list[Layer]) -> None:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        recipe = self.recipe
        with tempfile.TemporaryDirectory() as tmp:
            # onnxruntime reads its calibration cache unchecked: it gets a copy of the checked entry, or fills one
            method, cache = getattr(CalibrationMethod, _METHODS[recipe.method]), _ort_cache(self.cache_path, Path(tmp))
            if self.ranges is not None:
                method, cache = CalibrationMethod.MinMax, _ranges_file(self.ranges, Path(tmp))
            reader = self._reader(self.calib.inputs)
            quantize_static(
                str(self.fp32),
                str(out),
                reader,
                quant_format=QuantFormat.QDQ,
                # None: every op onnxruntime can quantize. Restricting to Conv/Gemm/Add left each ReLU between a
                # DQ and a Q pair: resnet18 at 224 ran 1.89x faster than fp32 instead of 2.93x (measured here).
                op_types_to_quantize=None,
                per_channel=recipe.per_channel,
                activation_type=QuantType.QUInt8 if recipe.activations == "uint8" else QuantType.QInt8,
                weight_type=QuantType.QInt8,
                reduce_range=recipe.weight_bits == 7,  # weights within +-64: no x86 kernel can saturate them
                calibrate_method=method,
                nodes_to_exclude=[layer.key for layer in exclude],
                extra_options={
                    "WeightSymmetric": True,
                    "ActivationSymmetric": recipe.activations == "int8",
                    "TensorQuantOverrides": self._wide_overrides(),
                    "CalibStridedMinMax": reader.stride(),  # any calibrator, a stride at a time
                },
                calibration_cache_path=cache,
            )
            if self.ranges is None and not self.cache_path.is_file() and cache.is_file():
                write_cache_json(self.cache_path, {"onnxruntime": cache.read_text(encoding="utf-8")})

    def _wide_overrides(self) -> dict[str, list[dict[str, Any]]]:
        from onnxruntime.quantization import QuantType

        wide = QuantType.QUInt16 if self.recipe.activations == "uint8" else QuantType.QInt16
        return {tensor: [{"quant_type": wide}] for layer in self.wide for tensor in self.activations[layer.key]}

    def histograms(self) -> dict[str, Histogram]:
        """Value histograms of every tensor onnxruntime calibrates, over the calibration images."""
        from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(StringIO()):
            calibrator = create_calibrator(
                self.fp32,
                None,
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=CalibrationMethod.Distribution,
                extra_options={"num_bins": 2048},
            )
            reader = self._reader(self.calib.inputs)
            stride = reader.stride()
            for start in range(0, len(reader), stride):  # bounded memory, as in quantize()
                reader.set_range(start, start + stride)
                calibrator.collect_data(reader)
            found = calibrator.collector.histogram_dict
        return {name: Histogram(h[0], h[1], float(h[2]), float(h[3])) for name, h in found.items()}

    def sensitivity(self, int8: Path, inputs: np.ndarray) -> list[tuple[Layer, float]]:
        """SQNR (dB) of each layer's int8 output against fp32, worst first, via onnxruntime's QDQ debugger."""
        from onnxruntime.quantization import qdq_loss_debug as debug

        by_key = {layer.key: layer for layer in self.layers}
        with tempfile.TemporaryDirectory() as tmp:
            activations = []
            for source in (self.fp32, int8):
                augmented = Path(tmp) / f"aug-{source.name}.onnx"
                debug.modify_model_output_intermediate_tensors(str(source), str(augmented), [*QUANTIZED_OPS, "Relu"])
                activations.append(debug.collect_activations(str(augmented), self._reader(inputs)))
        errors = debug.compute_activation_error(debug.create_activation_matching(activations[1], activations[0]))
        worst: dict[str, float] = {}  # a layer seen before and after its fused ReLU keeps its worse score
        for name, err in errors.items():
            key = self.producers.get(name)
            if "xmodel_err" in err and key in by_key:
                worst[key] = min(worst.get(key, np.inf), float(err["xmodel_err"]))
        return sorted(((by_key[key], score) for key, score in worst.items()), key=lambda item: item[1])


def _ort_cache(entry: Path, folder: Path) -> Path:
    """Where onnxruntime finds its calibration cache: the checked entry's text written into `folder`, or a path
    there that it fills when it calibrates."""
    path = folder / "ort-calibration.json"
    stored = read_cache_json(entry)
    if isinstance(stored, dict) and isinstance(stored.get("onnxruntime"), str):
        path.write_text(stored["onnxruntime"], encoding="utf-8")
    return path


def _ranges_file(ranges: dict[str, tuple[float, float]], folder: Path) -> Path:
    """Ranges in onnxruntime's calibration-cache form, which quantize_static reads instead of calibrating."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData, save_tensors_data

    data = {
        name: TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32))
        for name, (lo, hi) in ranges.items()
    }
    path = folder / "ranges.json"
    save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), path)
    return path


class _DropMessage(logging.Filter):
    def __init__(self, *texts: str) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in self.texts)


def _scopes(node: Any) -> tuple[list[str], list[str]]:
    """The node's module scopes and their classes (parallel lists), as the torch exporter records them."""
    found: dict[str, list[str]] = {}
    for prop in node.metadata_props:
        if prop.key in ("pkg.torch.onnx.name_scopes", "pkg.torch.onnx.class_hierarchy"):
            try:
                found[prop.key] = [str(s) for s in json.loads(prop.value.replace("'", '"'))]
            except ValueError:
                found[prop.key] = []
    return found.get("pkg.torch.onnx.name_scopes", []), found.get("pkg.torch.onnx.class_hierarchy", [])


def from_onnx_scopes(scopes: Sequence[str], classes: Sequence[str] = (), *, fallback: str) -> str:
    """The deepest `model.*` scope, without the `model.` of the export wrapper (a norm's named for its conv)."""
    found = [(i, s) for i, s in enumerate(scopes) if s == "model" or s.startswith("model.")]
    if not found:
        return fallback
    index, path = found[-1]
    module_class = classes[index] if len(classes) == len(scopes) else None
    return conv_name(path.removeprefix("model").removeprefix("."), module_class) or fallback
