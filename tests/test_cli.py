"""inspect and demo through the real CLI; the demo trains a real model on generated images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeres.demo import run_demo
from edgeres.demo.run import MARKER
from edgeres.isa import local_cpu, target_for_cpu
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


def test_demo_trains_a_model_then_runs_the_pipeline_on_it(tmp_path):
    result = run_demo(tmp_path / "demo", train_steps=100, per_class=(100, 40))  # top-1 0.63 here (chance 0.1)
    assert result.test_images == 400
    reloaded = load_model(result.model_path)
    assert reloaded.card.labels == tuple(sorted(reloaded.card.labels)) and reloaded.spec.name == "cifar_resnet8"
    evaluated = run_cli("eval", result.model_path, "--data", tmp_path / "demo" / "data" / "test", "--json")
    top1 = json.loads(evaluated.stdout)["top1"]
    assert top1 > 0.5  # ten classes: chance is 0.1
    run = result.pipeline
    recipe = target_for_cpu(local_cpu())  # the demo benches on local-cpu, whose recipe follows this CPU
    entries = {Path(e["model"]).name: e for t in run.bench["targets"] for r in t["runs"] for e in r["entries"]}
    assert set(entries) == {
        f"{variant}{kind}.{fmt}"
        for variant in ("original", "pruned")
        for kind in ("", f"_int8_{recipe}")
        for fmt in ("onnx", "tflite")
    }
    assert all(e["accuracy"]["n"] == 400 for e in entries.values())
    assert entries["original.onnx"]["accuracy"]["top1"] == pytest.approx(top1, abs=0.005)
    assert entries[f"original_int8_{recipe}.onnx"]["accuracy"]["top1"] > top1 - 0.05
    manifest = json.loads(run.manifest.read_text())
    prune = manifest["stages"]["prune"]["meta"]
    assert abs(prune["after"]["macs"] / prune["before"]["macs"] - 0.5) < 0.015 and len(prune["finetune"]["epochs"]) == 2
    assert load_model(tmp_path / "demo" / "run" / "models" / "pruned.safetensors").spec.name == "cifar_resnet8_pruned"
    assert run.report.read_text().startswith("<!doctype html>") and str(run.report) in result.lines()[-2]
    again = run_cli("pipeline", result.config_path, "--out", run.out)
    assert again.exit_code == 0 and "stages run 0, skipped (unchanged) 11" in again.stdout
    line = one_line_error(run_cli("demo", "--out", tmp_path / "demo"))
    assert "--force" in line and (tmp_path / "demo" / "model.safetensors").exists()
    assert (tmp_path / "demo" / MARKER).is_file()  # what a later `demo --force` recognises as its own


def test_cli_help_and_data_layer_do_not_import_torch():
    """`edgeres --help` starts fast, and card/data/evaluate stay usable on a board without torch."""
    code = (
        "import sys; from edgeres.cli import cli; import edgeres.data, edgeres.card, edgeres.evaluate; "
        "from click.testing import CliRunner; assert CliRunner().invoke(cli, ['--help']).exit_code == 0; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_subpackage_is_packaged():
    """A wheel (not the editable install the tests use) ships only the packages pyproject.toml lists."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "edgeres").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)


def test_demo_force_never_deletes_a_folder_the_demo_did_not_make(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    line = one_line_error(run_cli("demo", "--out", mine, "--force"))
    assert "mine" in line and "no edgeres demo wrote" in line
    assert (mine / "thesis.tex").read_text() == "years of work" and os.listdir(mine) == ["thesis.tex"]
