"""inspect and demo through the real CLI; the demo trains a real model on generated images."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgeres.demo import run_demo
from edgeres.models import load_model

from .conftest import CHECKPOINTS, ROOT, one_line_error, run_cli


@pytest.mark.shared
def test_inspect_json_reports_card_params_macs_and_stages():
    result = run_cli("inspect", CHECKPOINTS / "resnet20-12fca82f.th", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["card"]["arch"] == "cifar_resnet20" and report["card"]["num_classes"] == 10
    assert report["params"] == 269_722 and report["macs"] == 40_551_040
    assert [s["name"] for s in report["stages"]] == ["stem", "layer1", "layer2", "layer3", "head"]
    assert report["stages"][3]["output_shape"] == [1, 64, 8, 8]


@pytest.mark.shared
def test_inspect_table_for_torchvision_checkpoint():
    result = run_cli("inspect", CHECKPOINTS / "resnet18_cifar10.pth")
    assert result.exit_code == 0
    for text in ("resnet18", "airplane", "11.18 M", "37.02 M", "layer4"):
        assert text in result.stdout


def test_cli_py_launcher_and_debug_flag(tmp_path):
    launcher = subprocess.run([sys.executable, str(ROOT / "cli.py"), "--help"], capture_output=True, text=True)
    assert launcher.returncode == 0 and "inspect" in launcher.stdout and "demo" in launcher.stdout
    debug = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "--debug", "inspect", str(tmp_path / "missing.pt")],
        capture_output=True,
        text=True,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "CheckpointError" in debug.stderr


def test_demo_trains_a_model_that_learns_and_reloads(tmp_path):
    result = run_demo(tmp_path / "demo", train_seconds=12, per_class=(150, 40))
    assert result.accuracy.n == 400
    assert result.accuracy.top1 > 0.5  # ten classes: chance is 0.1
    reloaded = load_model(result.model_path)
    assert reloaded.card.labels == tuple(sorted(reloaded.card.labels)) and reloaded.spec.name == "cifar_resnet8"
    evaluated = run_cli("eval", result.model_path, "--data", tmp_path / "demo" / "data" / "test", "--json")
    assert json.loads(evaluated.stdout)["top1"] == pytest.approx(result.accuracy.top1)
    assert [e.path.suffix for e, _ in result.exports] == [".onnx", ".tflite"]
    for export, evaluated in result.exports:
        assert export.verification.passed and evaluated.n == 400
        assert evaluated.top1 == pytest.approx(result.accuracy.top1, abs=0.005)
    assert [q.path.name for q in result.quantized] == ["model_int8.onnx", "model_int8.tflite"]
    for quantized in result.quantized:
        assert quantized.accuracy.n == 400 and quantized.accuracy.drop_pp < 5
    pruned = result.pruned
    assert abs(pruned.after["macs"] / pruned.before["macs"] - 0.5) < 0.015 and len(pruned.finetune.epochs) == 2
    assert load_model(pruned.out).spec.name == "cifar_resnet8_pruned" and pruned.top1["n"] == 400
    bench = result.bench
    assert [Path(e["model"]).name for e in bench["entries"]] == [
        "model.onnx",
        "model_int8.onnx",
        "model.tflite",
        "model_int8.tflite",
        "model_pruned.onnx",
        "model_pruned_int8.onnx",
    ]
    assert all(e["accuracy"]["n"] == 400 for e in bench["entries"])
    assert (tmp_path / "demo" / "bench" / "accuracy_vs_latency.png").is_file()
    line = one_line_error(run_cli("demo", "--out", tmp_path / "demo"))
    assert "--force" in line and (tmp_path / "demo" / "model.safetensors").exists()


def test_cli_help_and_data_layer_do_not_import_torch():
    """`edgeres --help` starts fast, and card/data/evaluate stay usable on a board without torch."""
    code = (
        "import sys; from edgeres.cli import cli; import edgeres.data, edgeres.card, edgeres.evaluate; "
        "from click.testing import CliRunner; assert CliRunner().invoke(cli, ['--help']).exit_code == 0; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
