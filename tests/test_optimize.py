"""`--optimize`: each preparation technique improves on the plain recipe, and learned integers survive export."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter
from onnx import numpy_helper

from edgeres.export import export_model
from edgeres.models import LoadedModel, load_model
from edgeres.quantize import QuantizeSettings, quantize_model
from edgeres.quantize.calibration import calibration_set
from edgeres.quantize.check import sqnr_db
from edgeres.quantize.precision import MIN_GAIN_DB
from edgeres.quantize.prepare.grid import Grid
from edgeres.quantize.prepare.optimize import Techniques, prepare_model
from edgeres.quantize.recipes import recipe_for

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli

pytestmark = pytest.mark.shared
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EDGERES_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "calibration-cache"))


@pytest.fixture(scope="module")
def resnet20() -> LoadedModel:
    return load_model(RESNET20)


@pytest.fixture(scope="module")
def calib(resnet20) -> np.ndarray:
    return calibration_set(CIFAR / "train", resnet20.card, num=128).inputs


def _weight_sqnr(weight: torch.Tensor, grid: Grid) -> float:
    return sqnr_db(weight.detach().numpy(), grid.fake_quant_weight(weight.detach()).numpy())


def test_folding_and_equalization_keep_the_float_model_and_narrow_weight_error(resnet20, calib):
    recipe = recipe_for("onnx", "x86")
    folded, plain = prepare_model(resnet20.model, recipe, calib, Techniques())
    equalized, report = prepare_model(resnet20.model, recipe, calib, Techniques(equalize=True))
    assert len(plain.folded) == 19 and plain.equalized == []  # every conv had a BN; nothing equalized
    assert len(report.equalized) == 9  # conv1 -> ReLU -> conv2 in each of the 9 blocks
    x = torch.from_numpy(calib[:32])
    with torch.no_grad():
        reference = resnet20.model.eval()(x)
        assert torch.allclose(folded(x), reference, atol=1e-4) and torch.allclose(equalized(x), reference, atol=1e-4)
    grid = Grid.of(recipe)
    seconds = [second for _, second in report.equalized]
    before = np.mean([_weight_sqnr(folded.get_submodule(name).weight, grid) for name in seconds])
    after = np.mean([_weight_sqnr(equalized.get_submodule(name).weight, grid) for name in seconds])
    assert after > before + 0.2, (before, after)  # 35.84 -> 36.17 dB measured (x86 grid, qmax 64)


@pytest.mark.parametrize(
    ("techniques", "mean_gain_db"),
    [
        (Techniques(bias_correction=True), 0.2),
        (Techniques(adaround_iterations=150), 0.5),
        (Techniques(weight_clipping=True), 0.1),  # 0.35 dB measured on the 7-bit x86 grid
    ],
    ids=["bias-correction", "adaround", "weight-clipping"],
)
def test_layer_sqnr_improves_over_round_to_nearest(resnet20, calib, techniques, mean_gain_db):
    _, report = prepare_model(resnet20.model, recipe_for("onnx", "x86"), calib, techniques)
    gains = [layer.sqnr_after_db - layer.sqnr_before_db for layer in report.layers]
    assert len(gains) == 20  # 19 convs and the classifier, each against the float layer on its float input
    assert np.mean(gains) >= mean_gain_db and sum(g >= 0 for g in gains) >= 18, gains


def _file_integers(path) -> list[np.ndarray]:
    """Every int8 weight tensor of an int8 file, in PyTorch's OIHW / (out, in) layout."""
    if path.suffix == ".onnx":
        graph = onnx.load(str(path)).graph
        return [
            numpy_helper.to_array(t)
            for t in graph.initializer
            if t.data_type == onnx.TensorProto.INT8 and len(t.dims) > 1
        ]
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    found = []
    for tensor in interpreter.get_tensor_details():
        if tensor["dtype"] == np.int8 and len(tensor["shape"]) > 1:
            try:
                value = interpreter.get_tensor(tensor["index"])
            except ValueError:  # activations are not readable before a run; only constants are wanted
                continue
            found.append(value.transpose(0, 3, 1, 2) if value.ndim == 4 else value)
    return found


@pytest.mark.parametrize(("fmt", "target"), [("onnx", "x86"), ("tflite", "x86")])  # grids of 64 and 127 steps
def test_learned_integers_survive_export_bit_exact(resnet20, calib, tmp_path, fmt, target):
    recipe = recipe_for(fmt, target)
    grid = Grid.of(recipe)
    techniques = Techniques(adaround_iterations=30, weight_clipping=True)  # clipped channels: a scale of their own
    prepared, report = prepare_model(resnet20.model, recipe, calib[:64], techniques)
    assert sum(layer.clipped_channels for layer in report.layers) > 0
    plain, _ = prepare_model(resnet20.model, recipe, calib, Techniques())
    expected = {
        x.name: grid.weight_integers(prepared.get_submodule(x.name).weight).to(torch.int8) for x in report.layers
    }
    nearest = {name: grid.weight_integers(plain.get_submodule(name).weight).to(torch.int8) for name in expected}
    assert any(not torch.equal(expected[n], nearest[n]) for n in expected)  # AdaRound moved some weights
    fp32 = export_model(LoadedModel(prepared, resnet20.card, resnet20.spec), tmp_path / f"prepared.{fmt}").path
    int8 = quantize_model(
        fp32, tmp_path / f"int8.{fmt}", QuantizeSettings(calib=CIFAR / "train", num=64, target=target, optimize="none")
    )
    stored = _file_integers(int8.path)
    missing = [n for n, ints in expected.items() if not any(np.array_equal(ints.numpy(), s) for s in stored)]
    assert not missing
    assert fmt == "tflite" or len(stored) == len(expected)  # LiteRT also lists activation buffers as int8


def test_range_search_and_wider_ends_are_kept_only_when_they_measure_better(tmp_path):
    techniques = Techniques(range_search=True, mixed_precision=True)
    result = quantize_model(
        RESNET20, tmp_path / "q.tflite", QuantizeSettings(calib=CIFAR / "train", num=128, optimize=techniques)
    )
    ranges, precision = result.ranges, result.precision
    assert ranges is not None and precision is not None and result.check is not None
    assert ranges["chosen"] == max(ranges["sqnr_db"], key=ranges["sqnr_db"].get)
    assert set(precision["tried"]) == {"conv1", "classifier"} and precision["kind"] == "float"
    assert all(precision["tried"][name] >= MIN_GAIN_DB for name in precision["kept"])
    # The file written is the one chosen, and it beats the plain recipe's on the same held-out images.
    assert result.check.sqnr_db == pytest.approx(precision["sqnr_db"], abs=0.01)
    assert result.check.sqnr_db >= ranges["sqnr_db"]["engine"]
    assert "optimize" in result.to_dict() and result.to_dict()["optimize"]["precision"]["kept"] == precision["kept"]


def test_wider_ends_in_onnx_are_16_bit_tensors(tmp_path):
    result = quantize_model(
        RESNET20,
        tmp_path / "q.onnx",
        QuantizeSettings(calib=CIFAR / "train", num=128, target="x86-vnni", optimize=Techniques(mixed_precision=True)),
    )
    assert result.precision is not None and "conv1" in result.precision["kept"]  # +1.8 dB measured on 128 images
    graph = onnx.load(str(result.path)).graph
    q_types = {n.output[0]: n for n in graph.node if n.op_type == "QuantizeLinear"}
    inits = {t.name: t.data_type for t in graph.initializer}
    wide = [n for n in q_types.values() if inits.get(n.input[2]) == onnx.TensorProto.UINT16]
    assert wide and any(n.input[0] == graph.input[0].name for n in wide)  # the image enters in 16 bits


def test_optimize_on_an_exported_file_is_an_error(tmp_path, exported):
    onnx_file = exported("resnet20-12fca82f.th", "onnx")
    result = run_cli(
        "quantize",
        onnx_file,
        "--calib",
        CIFAR / "train",
        "--num",
        32,
        "--out",
        tmp_path / "q.onnx",
        "--optimize",
        "best",
    )
    line = one_line_error(result)
    assert f"{onnx_file} is an exported file" in line and "--optimize none" in line
    assert not (tmp_path / "q.onnx").exists()
