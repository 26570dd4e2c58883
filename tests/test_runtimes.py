"""Runtimes come from one torch-free registry; OpenVINO runs edgeres's ONNX files beside onnxruntime."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeres.bench.record import pin_cpus
from edgeres.options import RuntimeOptions
from edgeres.runtimes import registry
from edgeres.runtimes.openvino import OpenVinoPredictor

from .conftest import CIFAR, ROOT, one_line_error, run_cli


def test_registry_is_torch_free_and_names_each_runtime_once():
    code = (
        "import sys, json; from edgeres.runtimes import registry as r; "
        "print(json.dumps([[x.name, list(x.suffixes)] for x in r.runtimes()])); "
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules and 'openvino' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    declared = json.loads(done.stdout)
    assert declared == [
        ["ort", [".onnx"]],
        ["openvino", [".onnx"]],
        ["litert", [".tflite"]],
        ["executorch", [".pte"]],
        ["torch", []],
    ]
    for runtime in registry.runtimes():  # every opener resolves without opening anything
        module, _, name = runtime.opener.partition(":")
        assert callable(getattr(importlib.import_module(f"edgeres.runtimes.{module}"), name))
    defaults = {s: registry.runtime_for(Path(f"m{s}")).name for s in (".onnx", ".ONNX", ".tflite", ".pth", ".th")}
    assert defaults == {".onnx": "ort", ".ONNX": "ort", ".tflite": "litert", ".pth": "torch", ".th": "torch"}
    assert registry.board_suffixes() == (".onnx", ".tflite")
    assert registry.usable({"openvino": "2026.4.1"}) == []  # OpenVINO reads the model card with onnx
    assert [r.name for r in registry.usable({"openvino": "1", "onnx": "1", "tflite-runtime": "2"})] == [
        "openvino",
        "litert",
    ]


@pytest.mark.shared
def test_openvino_runs_the_fp32_and_int8_files_with_their_card_and_threads(resnet20_files):
    fp32 = OpenVinoPredictor(resnet20_files["fp32.onnx"], RuntimeOptions(threads=1))
    int8 = OpenVinoPredictor(resnet20_files["int8.onnx"], RuntimeOptions(threads=1))
    assert fp32.compiled.get_property("INFERENCE_NUM_THREADS") == 1
    # f32 as the file says, also where the plugin's own default is bf16 (AMX / AVX512_BF16 CPUs)
    assert str(fp32.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    assert fp32.card.arch == "cifar_resnet20" and fp32.card.num_classes == 10 and fp32.io.precision == "float32"
    assert int8.io.precision == "int8" and int8.isa is not None
    assert (fp32.settings, int8.settings) == ({"precision": "f32"}, {"precision": "default"})
    x = np.random.default_rng(0).standard_normal((5, 3, 32, 32), dtype=np.float32)
    ort = registry.named("ort").open(resnet20_files["fp32.onnx"])
    np.testing.assert_allclose(fp32.predict(x), ort.predict(x), atol=1e-3)
    assert int8.predict(x).shape == (5, 10) and fp32.predict(x[:1]).shape == (1, 10)


@pytest.mark.shared
def test_openvino_keeps_to_the_cpus_the_process_is_pinned_to(resnet20_files):
    before = os.sched_getaffinity(0)
    try:
        pin_cpus([0])  # what bench --cpus 0 does, after other runtimes' thread pools have started
        predictor = OpenVinoPredictor(resnet20_files["fp32.onnx"])
        for _ in range(20):
            predictor.invoke(predictor.prepare(np.zeros((1, 3, 32, 32), np.float32)))
        allowed = {
            Path(task).name: os.sched_getaffinity(int(Path(task).name)) for task in Path("/proc/self/task").iterdir()
        }
        assert all(cpus == {0} for cpus in allowed.values()), allowed
        predictor.close()
    finally:
        pin_cpus(before)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning to fewer CPUs needs two of them")
def test_onnxruntime_keeps_to_the_cpus_the_process_is_pinned_to(resnet20_files):
    """Left to choose its thread count, onnxruntime pinned its pool's threads to every core, out of the
    process's affinity: `bench --cpus 0` then timed on CPU 1 too."""
    from edgeres.runtimes.onnxruntime import OrtPredictor

    before = os.sched_getaffinity(0)
    try:
        pin_cpus([0])
        predictor = OrtPredictor(resnet20_files["int8.onnx"])
        for _ in range(20):
            predictor.invoke(predictor.prepare(np.zeros((8, 3, 32, 32), np.float32)))
        allowed = {task.name: os.sched_getaffinity(int(task.name)) for task in Path("/proc/self/task").iterdir()}
        assert all(cpus == {0} for cpus in allowed.values()), allowed
        predictor.close()
    finally:
        pin_cpus(before)


@pytest.mark.shared
def test_eval_in_openvino_scores_like_onnxruntime(resnet20_files):
    scores = {}
    for runtime in ("ort", "openvino"):
        args = ("eval", resnet20_files["int8.onnx"], "--data", CIFAR / "test", "--limit", 300, "--json")
        result = run_cli(*args, "--runtime", runtime, "--threads", 2)
        assert result.exit_code == 0, result.stderr
        scores[runtime] = json.loads(result.stdout)["top1"]
    assert scores["openvino"] == pytest.approx(scores["ort"], abs=0.02), scores


@pytest.mark.shared
def test_bench_times_each_file_in_both_runtimes_and_reports_their_agreement(resnet20_files, tmp_path):
    fp32, int8 = resnet20_files["fp32.onnx"], resnet20_files["int8.onnx"]
    common = ("--data", CIFAR / "test", "--limit", 300, "--threads", 2, "--min-runs", 20, "--min-seconds", 0)
    result = run_cli("bench", fp32, int8, "--runtime", "ort,openvino", *common, "--json", tmp_path / "run.json")
    assert result.exit_code == 0, result.stderr
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["config"]["runtimes"] == ["ort", "openvino"]
    rows = [(Path(e["model"]).name, e["runtime"], e["accuracy"]) for e in run["entries"]]
    assert [r[:2] for r in rows] == [
        ("fp32.onnx", "ort"),
        ("fp32.onnx", "openvino"),
        ("int8.onnx", "ort"),
        ("int8.onnx", "openvino"),
    ]
    across = [accuracy["agreement_across_runtimes"] for _, _, accuracy in rows]
    assert across[0] is None and across[2] is None  # onnxruntime is each file's first runtime
    assert across[1] >= 0.99 and across[3] >= 0.97, across  # fp32 alike; int8 kernels round differently
    assert all(accuracy["n"] == 300 and 0.75 < accuracy["top1"] < 0.87 for _, _, accuracy in rows)
    assert "vs 1st" in result.stdout and "openvino" in result.stdout  # the column header, wrapped at 80


@pytest.mark.shared
def test_runtime_choices_are_checked(resnet20_files):
    line = one_line_error(run_cli("bench", resnet20_files["fp32.tflite"], "--runtime", "ort,openvino"))
    assert "fp32.tflite" in line and "runs in litert" in line
    line = one_line_error(
        run_cli("eval", resnet20_files["fp32.tflite"], "--data", CIFAR / "test", "--runtime", "openvino")
    )
    assert "runs in litert, not --runtime openvino" in line
    line = one_line_error(run_cli("bench", resnet20_files["fp32.onnx"], "--runtime", "ort,tensorrt"))
    assert "'tensorrt' is not one of ort, openvino, litert, executorch, torch" in line
    line = one_line_error(run_cli("bench", resnet20_files["fp32.onnx"], "--runtime", "openvino", "--device", "cuda"))
    assert "OpenVINO runs on the CPU here" in line


@pytest.mark.shared
def test_openvino_precision_by_file_kind_or_as_asked_and_recorded_in_bench_rows(resnet20_files, tmp_path):
    """Int8 files run with the plugin's defaults (the f32 hint only slowed them), float files in f32; a flag
    overrides either, only OpenVINO takes it, and every bench row says what ran."""
    from edgeres.errors import EdgeresError

    core = __import__("openvino").Core()
    plugin_default = str(core.get_property("CPU", "INFERENCE_PRECISION_HINT"))
    int8 = OpenVinoPredictor(resnet20_files["int8.onnx"], RuntimeOptions(threads=1))
    assert str(int8.compiled.get_property("INFERENCE_PRECISION_HINT")) == plugin_default
    forced = OpenVinoPredictor(resnet20_files["int8.onnx"], RuntimeOptions(threads=1, precision="f32"))
    assert str(forced.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    with pytest.raises(EdgeresError, match="does not take precision"):
        registry.named("ort").open(resnet20_files["int8.onnx"], RuntimeOptions(precision="f32"))
    out = tmp_path / "run.json"
    args = ["bench", resnet20_files["fp32.onnx"], resnet20_files["int8.onnx"], "--runtime", "openvino"]
    result = run_cli(*args, "--min-runs", "3", "--min-seconds", "0", "--warmup", "1", "--json", out)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(out.read_text())["entries"]
    assert [row["settings"] for row in rows] == [{"precision": "f32"}, {"precision": "default"}]
    refused = run_cli("bench", resnet20_files["int8.onnx"], "--ov-precision", "f32", "--min-runs", "3")
    assert "--ov-precision applies to OpenVINO files" in one_line_error(refused)
