"""onnxruntime's GPU providers (CUDA, TensorRT): the choices and refusals that hold on any machine, and real
GPU runs where onnxruntime-gpu and a GPU are present (skipped elsewhere, with the reason)."""

from __future__ import annotations

import json
import os

import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from edgeres._quiet import output_captured
from edgeres.runtimes.ort_providers import fallback_reason, qdq_activations, tensorrt_options

from .conftest import CIFAR, one_line_error, run_cli

AVAILABLE = ort.get_available_providers()
needs_cuda = pytest.mark.skipif(
    "CUDAExecutionProvider" not in AVAILABLE, reason=f"onnxruntime here has no CUDA provider ({AVAILABLE})"
)
# What onnxruntime-gpu 1.31.1 printed on an H200 without TensorRT's libraries (docs/benchmarks.md): the provider
# is listed as available, the session falls back to CUDA, and only this output says why.
H200_FALLBACK = (
    "\x1b[1;31m2026-12-04 16:58:35.264 [E:onnxruntime:Default, provider_bridge_ort.cc:2430 operator()] "
    "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 onnxruntime::Provider& "
    "onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library "
    "/tmp/site/onnxruntime/capi/libonnxruntime_providers_tensorrt.so with error: libnvinfer.so.10: cannot open "
    "shared object file: No such file or directory\n\x1b[m\n*************** EP Error ***************\n"
    "EP Error /onnxruntime_src/onnxruntime/python/onnxruntime_pybind_state.cc:729 void onnxruntime::python::"
    "RegisterTensorRTPluginsAsCustomOps(PySessionOptions&, const onnxruntime::ProviderOptions&) Please install "
    "TensorRT libraries as mentioned in the GPU requirements page.\n when using [('TensorrtExecutionProvider', {})]\n"
)


@pytest.mark.shared
def test_provider_options_that_cannot_apply_are_one_error(resnet20_files, tmp_path):
    fp32, x86_int8 = resnet20_files["fp32.onnx"], resnet20_files["int8.onnx"]
    out = tmp_path / "bench.json"
    cases = [
        ((fp32, "--provider", "cuda"), "--provider cuda runs on the GPU; add --device cuda"),
        ((fp32, "--fp16"), "--fp16 applies to PyTorch checkpoints"),
        ((x86_int8, "--device", "cuda", "--provider", "tensorrt-fp16"), "uint8 activations (an x86 recipe)"),
        ((x86_int8, "--device", "cuda", "--provider", "tensorrt"), "uint8 activations (an x86 recipe)"),
    ]
    if "TensorrtExecutionProvider" not in AVAILABLE:
        cases.append(((fp32, "--device", "cuda", "--provider", "tensorrt"), "has no TensorrtExecutionProvider"))
    for args, says in cases:
        line = one_line_error(run_cli("bench", *args, "--min-runs", "1", "--json", out))
        assert says in line and not out.exists(), line
    result = run_cli("bench", fp32, "--provider", "tensorrt", "--target", "some-board")
    assert result.exit_code == 2 and "--provider does not apply with --target" in result.stderr


@pytest.mark.shared
def test_qdq_files_say_which_activations_tensorrt_would_get(resnet20_files):
    assert qdq_activations(onnx.load(str(resnet20_files["int8.onnx"]))) == "uint8"  # the portable x86 recipe
    assert qdq_activations(onnx.load(str(resnet20_files["fp32.onnx"]))) is None
    symmetric = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
            ],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]), helper.make_tensor("z", TensorProto.INT8, [], [0])],
        )
    )
    assert qdq_activations(symmetric) == "int8"


def test_tensorrt_keeps_its_engines_beside_the_model_and_a_fallback_names_what_failed(tmp_path):
    options = tensorrt_options(tmp_path / "m_int8.onnx", fp16=False, int8=True)
    assert options["trt_engine_cache_path"] == str(tmp_path / "m_int8.onnx.trt") == options["trt_timing_cache_path"]
    assert (options["trt_engine_cache_enable"], options["trt_int8_enable"], options["trt_fp16_enable"]) == (
        "True", "True", "False",
    )  # fmt: skip
    reason = fallback_reason(H200_FALLBACK)
    assert reason.startswith("libonnxruntime_providers_tensorrt.so: libnvinfer.so.10: cannot open shared object")
    assert "Please install TensorRT libraries" in fallback_reason(H200_FALLBACK.split("\x1b[m\n")[1])
    assert fallback_reason("") == "no reason printed"


def test_output_captured_holds_what_native_code_and_python_printed(capfd):
    with output_captured() as log:
        os.write(2, b"from C: provider failed\n")
        print("from Python: falling back")
    assert "from C: provider failed" in log[0] and "from Python: falling back" in log[0]
    assert capfd.readouterr().err == ""


@pytest.mark.shared
@needs_cuda
def test_cuda_provider_scores_like_the_cpu(resnet20_files, tmp_path):
    """Run on the H200 (onnxruntime-gpu 1.31.1): resnet20 fp32 agreed with PyTorch on the CPU on 99.95% of 2,000."""
    out = tmp_path / "bench.json"
    args = ("--data", CIFAR / "test", "--limit", "500", "--min-runs", "10", "--json", out)
    result = run_cli("bench", resnet20_files["fp32.onnx"], "--device", "cuda", "--provider", "cuda", *args)
    assert result.exit_code == 0, result.stderr
    gpu = json.loads(out.read_text())["entries"][0]["accuracy"]
    cpu = json.loads(
        run_cli("eval", resnet20_files["fp32.onnx"], "--data", CIFAR / "test", "--limit", "500", "--json").stdout
    )
    assert abs(gpu["top1"] - cpu["top1"]) <= 2 / 500
