"""Checkpoints that pass the loader's other checks but compute nothing useful: a BatchNorm's negative running
variance is refused at load time naming the layer (zero is a warning), and no score, agreement or verification
is ever made from NaN or infinite outputs (issue 32)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli

pytestmark = pytest.mark.shared
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"


def _damaged(tmp_path: Path, name: str, change: str) -> Path:
    """resnet20 with one change: "negative"/"zero" running variance in layer1.1.bn1, or "overflow" (conv1's
    weights times 1e37: finite, but the activations overflow to inf)."""
    weights = dict(torch.load(RESNET20, map_location="cpu", weights_only=True)["state_dict"])
    key = "module.conv1.weight" if change == "overflow" else "module.layer1.1.bn1.running_var"
    tensor = weights[key].clone()
    if change == "overflow":
        tensor *= 1e37
    else:
        tensor[0] = -1.0 if change == "negative" else 0.0
    weights[key] = tensor
    path = tmp_path / name
    torch.save({"state_dict": weights}, path)
    return path


def test_negative_batchnorm_variance_is_refused_naming_the_layer(tmp_path):
    model = _damaged(tmp_path, "negative.th", "negative")
    for command in (
        ["eval", model, "--data", CIFAR / "test", "--limit", "20"],
        ["export", model, "--out", tmp_path / "m.onnx"],
    ):
        line = one_line_error(run_cli(*command))
        assert "negative.th" in line and "layer1.1.bn1" in line and "negative running variance" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["negative.th"]


def test_zero_batchnorm_variance_is_a_warning_and_the_score_stands(tmp_path):
    model = _damaged(tmp_path, "zero.th", "zero")
    result = run_cli("eval", model, "--data", CIFAR / "test", "--limit", "20")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "layer1.1.bn1" in warnings[0] and "zero running variance" in warnings[0]
    assert "top-1" in result.stdout


def test_nan_outputs_are_never_a_score(tmp_path):
    """Finite weights whose activations overflow: eval, export's verification and the int8 check all refuse."""
    model = _damaged(tmp_path, "overflow.th", "overflow")
    line = one_line_error(run_cli("eval", model, "--data", CIFAR / "test", "--limit", "20"))
    assert line.startswith("error: ") and "overflow.th" in line and "NaN or infinite" in line and "no score" in line
    line = one_line_error(run_cli("export", model, "--out", tmp_path / "m.onnx"))
    assert "overflow.th" in line and "NaN or infinite" in line
    exported = tmp_path / "unverified.onnx"
    assert run_cli("export", model, "--out", exported, "--no-verify").exit_code == 0
    line = one_line_error(run_cli("eval", exported, "--data", CIFAR / "test", "--limit", "20"))
    assert "unverified.onnx" in line and "NaN or infinite" in line
    assert not (tmp_path / "m.onnx").exists() and not list(tmp_path.glob(".*"))  # nothing half-written


def test_an_onnx_whose_input_is_not_an_image_is_one_line_before_anything_runs(tmp_path, exported):
    """A graph taking N x 10 vectors that carries an image card (copied from a real export): eval and bench in
    onnxruntime and OpenVINO refuse it naming the shapes, instead of a runtime's traceback."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    card = onnx.load(str(exported("resnet20-12fca82f.th", "onnx"))).metadata_props
    weight = numpy_helper.from_array(np.eye(10, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits"])],
        "vectors",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 10])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.metadata_props.extend(card)
    path = tmp_path / "vectors.onnx"
    onnx.save(model, str(path))
    evaluated = one_line_error(run_cli("eval", path, "--data", CIFAR / "test", "--limit", "20"))
    assert "vectors.onnx" in evaluated and "its input is ?x10" in evaluated and "NxCx32x32" in evaluated
    benched = one_line_error(run_cli("bench", path, "--runtime", "openvino", "--min-runs", "5"))
    assert "vectors.onnx" in benched and "its input is ?x10" in benched
