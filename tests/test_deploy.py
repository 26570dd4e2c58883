"""`edgeres deploy`: the choice among measured candidates (pure), a whole run on a small real model, and its
refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeres.deploy.candidates import Candidate, Measured
from edgeres.deploy.choose import choose, pareto_front, within
from edgeres.runtimes import registry

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli


def _row(name: str, precision: str, runtime: str, p50: float, accuracy: float, fmt: str = "onnx") -> Measured:
    return Measured(Candidate(Path(name), fmt, precision, runtime), {"p50_ms": p50}, accuracy)


def test_choice_is_the_fastest_within_the_bound_and_never_slower_than_its_fp32_twin():
    fp32 = _row("fp32.onnx", "fp32", "ort", 1.0, 0.80)
    slow_int8 = _row("int8.onnx", "int8", "ort", 1.2, 0.80)  # slower than fp32 in the same runtime
    inaccurate = _row("int8.tflite", "int8", "litert", 0.3, 0.70, "tflite")
    good = _row("int8.pte", "int8", "executorch", 0.5, 0.797, "pte")
    rows = [fp32, slow_int8, inaccurate, good]
    assert within(rows, 0.80, 0.5) == [good, fp32, slow_int8]
    assert choose(rows, 0.80, 0.5) is good
    assert choose([fp32, slow_int8], 0.80, 0.5) is fp32
    assert choose([inaccurate], 0.80, 0.5) is None
    assert pareto_front(rows) == [inaccurate, good, fp32]


@pytest.mark.shared
def test_deploy_hands_over_the_fastest_measured_file_with_what_was_measured(tmp_path):
    out = tmp_path / "deployed"
    args = ["deploy", CHECKPOINTS / "resnet20-12fca82f.th", "--calib", CIFAR / "train", "--out", out]
    result = run_cli(*args, "--formats", "onnx", "--num", "64", "--optimize", "none", "--max-drop", "2", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record == json.loads((out / "deploy.json").read_text())
    assert (out / record["file"]).is_file() and (out / (record["file"] + ".card.json")).is_file()
    assert record["runtime"] in registry.names() and record["metric"] == "agreement"
    assert record["accuracy"] >= record["reference"] - 0.02 and 0 < record["p50_ms"] <= record["p99_ms"]
    report = json.loads((out / "report.json").read_text())
    rows = report["candidates"]
    assert {"fp32", "int8"} <= {row["precision"] for row in rows} and report["pareto_front"]
    assert {row["format"] for row in rows} == {"onnx"}  # --formats honoured
    table = (out / "report.md").read_text()
    assert table.count("\n| ") == len(rows) + 1 and "**chosen**" in table  # a row per candidate, and the header
    openvino = [row["settings"] for row in rows if row["runtime"] == "openvino" and row["precision"] == "int8"]
    assert sorted(s["precision"] for s in openvino) == ["default", "f32"]  # both measured, not assumed
    fp32_p50 = {r["runtime"]: r["p50_ms"] for r in rows if r["precision"] == "fp32"}
    eligible = [
        r
        for r in rows
        if r["accuracy"] >= record["reference"] - 0.02
        and (r["precision"] == "fp32" or r["p50_ms"] < fp32_p50[r["runtime"]])
    ]
    twin = [r for r in rows if r["precision"] == "fp32" and r["runtime"] == record["runtime"]]
    assert record["p50_ms"] <= twin[0]["p50_ms"]  # never slower than the fp32 file in its own runtime
    assert record["p50_ms"] == min(r["p50_ms"] for r in eligible)  # the fastest within the bound, twins respected
    from edgeres.predict import open_predictor

    assert open_predictor(out / record["file"], record["runtime"]).card.arch == "cifar_resnet20"

    again = run_cli(*args, "--formats", "onnx", "--num", "64", "--optimize", "none")
    assert "--force" in one_line_error(again)  # an earlier deploy folder is replaced only when asked


def test_deploy_refuses_foreign_folders_boards_without_data_and_nothing_to_resume(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    ckpt = CHECKPOINTS / "resnet20-12fca82f.th"
    result = run_cli("deploy", ckpt, "--calib", CIFAR / "train", "--out", tmp_path, "--force")
    assert "not an edgeres deploy folder" in one_line_error(result)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    result = run_cli("deploy", ckpt, "--calib", CIFAR / "train", "--out", tmp_path / "d", "--target", "raspberry-pi-5")
    assert "give them with --data" in one_line_error(result)  # refused before any connection is tried
    result = run_cli("deploy", ckpt, "--calib", CIFAR / "train", "--out", tmp_path / "d", "--resume")
    assert "no interrupted deploy to resume" in one_line_error(result)
    assert not (tmp_path / "d").exists()
    result = run_cli("deploy", ckpt, "--calib", CIFAR / "train", "--out", tmp_path / "d", "--formats", "onnx,tflit")
    assert "--formats" in one_line_error(result) and not (tmp_path / "d").exists()


def test_speed_check_warns_when_int8_is_no_faster_and_names_where_it_is():
    from edgeres.quantize.speed_check import SpeedCheck

    assert SpeedCheck("ort", 1.0, 0.5, {}).warning() is None
    slow = SpeedCheck("ort", 0.20, 0.25, {"openvino": 0.12}).warning()
    assert slow is not None and "no faster than fp32 in ort" in slow and "0.120 ms in openvino" in slow
    nowhere = SpeedCheck("ort", 0.20, 0.199, {"openvino": 0.21}).warning()
    assert nowhere is not None and "edgeres deploy" in nowhere


@pytest.mark.shared
def test_every_int8_report_says_how_fast_it_ran_beside_fp32_here(resnet20_files):
    for fmt in ("onnx", "tflite"):
        report = json.loads(resnet20_files[f"int8.{fmt}"].with_name(f"int8.{fmt}.report.json").read_text())
        speed = report["speed_check"]
        assert speed["runtime"] == registry.runtime_for(resnet20_files[f"int8.{fmt}"]).name
        assert speed["fp32_ms"] > 0 and speed["int8_ms"] > 0
        warned = any("no faster than fp32" in w for w in report["warnings"])
        assert warned == (speed["fp32_ms"] / speed["int8_ms"] < 1.05)


def test_local_cpu_lists_every_runtime_installed_here():
    from edgeres.remote.targets import resolve_target

    local = resolve_target("local-cpu")
    assert local.probes_runtimes and set(local.listed_runtimes()) == {r.name for r in registry.installed_here()}
    assert {"ort", "openvino", "litert", "executorch"} <= set(local.listed_runtimes())  # the dev extra has them
    board = resolve_target("raspberry-pi-5")
    assert not board.probes_runtimes and board.listed_runtimes() == board.runtimes


@pytest.mark.shared
def test_the_openvino_copy_quantizes_before_the_flatten_and_computes_the_same(resnet20_files, tmp_path, real_batch):
    import onnx

    from edgeres.deploy.build import per_runtime

    int8 = tmp_path / "int8.onnx"
    int8.write_bytes(resnet20_files["int8.onnx"].read_bytes())
    files = dict((names[0], path) for path, names in per_runtime(int8, ["ort", "openvino"]))
    assert files["ort"] == int8 and files["openvino"] == tmp_path / "int8.openvino.onnx"
    graph = onnx.load(str(files["openvino"])).graph
    producer = {out: node for node in graph.node for out in node.output}
    gemm = next(node for node in graph.node if node.op_type == "Gemm")
    before = producer[gemm.input[0]]
    assert before.op_type in ("Reshape", "Flatten") and producer[before.input[0]].op_type == "DequantizeLinear"
    from edgeres.options import RuntimeOptions
    from edgeres.predict import open_predictor

    for runtime, options in (("ort", RuntimeOptions()), ("openvino", RuntimeOptions(precision="f32"))):
        a, b = (open_predictor(path, runtime, options).predict(real_batch) for path in (int8, files["openvino"]))
        assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()  # the same numbers (bf16 tails aside)
