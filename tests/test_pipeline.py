"""The pipeline: config validation, an end-to-end run on resnet20 with pruning, its manifest and its
report.html rendered in a real headless browser, skipping unchanged stages, and resuming after SIGINT."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeres._io import sha256_file
from edgeres.isa import local_cpu, target_for_cpu
from edgeres.pipeline import ConfigError, example_config, load_config, run_pipeline

from .conftest import CHECKPOINTS, CIFAR, ROOT, interrupt_when_exists, one_line_error, run_cli
from .sshd import free_port

CONFIG = f"""
[model]
checkpoint = "{CHECKPOINTS / "resnet20-12fca82f.th"}"
[data]
calibration = "{CIFAR / "train"}"
evaluation = "{CIFAR / "test"}"
calibration_images = 64
evaluation_images = 300
[prune]
enabled = true
target_macs = 0.5
train = "{CIFAR / "train"}"
train_images = 400
epochs = 2
[export]
formats = ["onnx", "tflite"]
[bench]
targets = ["local-cpu"]
min_runs = 20
min_seconds = 0.0
"""
QUICK_INT8 = '[quantize]\noptimize = "none"\n'  # int8 preparation is tested in test_optimize.py
MODEL_SUFFIXES = (".onnx", ".tflite", ".safetensors", ".card.json")


def model_hashes(manifest: Path) -> dict[str, str]:
    """Output hashes of the model files, by path inside the run (reports hold timings, which differ)."""
    stages = json.loads(manifest.read_text())["stages"]
    root = manifest.parent
    return {
        str(Path(path).relative_to(root)): digest
        for stage in stages.values()
        for path, digest in stage["outputs"].items()
        if path.endswith(MODEL_SUFFIXES)
    }


def test_config_errors_name_the_key_and_the_type(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[model]\ncheckpoint = "m.pth"\n[data]\ncalibration = "c"\nevaluation = "e"\n[prune]\ntarget_macs = "half"\n'
    )
    with pytest.raises(ConfigError, match=r"\[prune\] target_macs must be a number or an integer, got 'half'"):
        load_config(bad)
    bad.write_text('[model]\ncheckpoint = "m.pth"\n[data]\ncalibration = "c"\nevaluation = "e"\n[bench]\ntargts = []\n')
    line = one_line_error(run_cli("pipeline", bad))
    assert "[bench] unknown key(s) ['targts']" in line
    bad.write_text('[data]\ncalibration = "c"\nevaluation = "e"\n')
    with pytest.raises(ConfigError, match=r"\[model\] checkpoint is required"):
        load_config(bad)
    example = tmp_path / "example.toml"
    example.write_text(run_cli("pipeline", "--example").stdout)
    with pytest.raises(ConfigError, match=r"\[model\] checkpoint = 'model.pth': .* does not exist"):
        load_config(example)  # paths are checked before any stage runs
    (tmp_path / "model.pth").touch()
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "test").mkdir()
    config = load_config(example)  # the starter config is valid once its paths exist
    assert config["model"]["checkpoint"] == str(tmp_path / "model.pth") and example_config().count("[") >= 7
    example.write_text(example.read_text().replace('formats = ["onnx", "tflite"]', 'formats = ["onnx", "pte"]'))
    config = load_config(example)  # every format has an int8 engine now, ExecuTorch's too
    assert config["export"]["formats"] == ["onnx", "pte"] and config["quantize"]["enabled"]


def browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("Debian's chromium is not installed (make chromium; needs root)")
    return found


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """One uninterrupted run (3 epochs), checked end to end and the reference an interrupted run resumes to."""
    folder = tmp_path_factory.mktemp("straight")
    config = folder / "pipeline.toml"
    config.write_text(CONFIG.replace("epochs = 2", "epochs = 3") + QUICK_INT8)  # `fast` runs in the demo test
    return run_pipeline(config, folder / "run")


@pytest.mark.shared
@pytest.mark.slow
def test_pipeline_end_to_end_with_manifest_and_report(straight, tmp_path):
    result = straight
    manifest = json.loads(result.manifest.read_text())
    assert manifest["schema"] == "edgeres.pipeline/1" and manifest["config"]["prune"]["target_macs"] == 0.5
    assert {"torch", "onnxruntime", "torch-pruning", "ai-edge-quantizer"} <= set(manifest["versions"])
    names = set(manifest["stages"])
    recipe = target_for_cpu(local_cpu())  # local-cpu's quantize_target is auto: this CPU's recipe
    assert {
        "prune",
        "export:original:onnx",
        "export:pruned:tflite",
        f"quantize:pruned:onnx:{recipe}",
        "bench",
        "report",
    } <= names
    for stage in manifest["stages"].values():
        assert stage["seconds"] >= 0 and all(sha256_file(p) == d for p, d in stage["outputs"].items())
        assert all(sha256_file(p) == d for p, d in stage["inputs"].items())
    entries = [e for t in result.bench["targets"] for run in t["runs"] for e in run["entries"]]
    assert len(entries) == 8 and all(e["accuracy"]["n"] == 300 for e in entries)
    prune = manifest["stages"]["prune"]["meta"]
    assert abs(prune["after"]["macs"] / prune["before"]["macs"] - 0.5) < 0.015 and len(prune["finetune"]["epochs"]) == 3

    shot = tmp_path / "report.png"
    chrome = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    subprocess.run(
        [*chrome, "--window-size=1280,2000", f"--screenshot={shot}", result.report.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 50_000
    dom = subprocess.run(
        [*chrome, "--dump-dom", result.report.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    for text in (
        "Comparison",
        f"<td>pruned</td><td>tflite</td><td>int8 {recipe}</td><td>local-cpu</td>",
        "Machines",
        "<td>original</td><td>onnx</td><td>fp32</td><td>local-cpu</td>",
        "agreement with original fp32",
        "Pruning",
        "Quantization sensitivity",
        "Latency and accuracy",
        "data:image/png;base64",
    ):
        assert text in dom, text
    assert "http://" not in dom and "https://" not in dom  # self-contained: nothing to fetch

    run = result.manifest.parent
    again = run_pipeline(run.parent / "pipeline.toml", run)
    assert again.ran == [] and len(again.skipped) == len(names)


@pytest.mark.shared
@pytest.mark.slow
def test_interrupted_pipeline_resumes_to_the_same_hashes(straight, tmp_path):
    """SIGINT while the pruned model fine-tunes; --resume finishes; model files equal an uninterrupted run's."""
    config = tmp_path / "pipeline.toml"
    # int8 preparation is not what resumes: `none` keeps the two runs short, the int8 files still compared.
    resumable = CONFIG.replace("epochs = 2", "epochs = 3").replace('["onnx", "tflite"]', '["onnx"]')
    config.write_text(resumable + QUICK_INT8)
    run = tmp_path / "interrupted"
    argv = [sys.executable, str(ROOT / "cli.py"), "pipeline", str(config), "--out", str(run)]
    state = run / "models" / "pruned.safetensors.finetune.pt"
    interrupt_when_exists(argv, state)
    leftovers = [p for p in run.rglob("*") if p.name.endswith((".tmp", ".work"))]
    assert leftovers == [] and not (run / "models" / "pruned.safetensors").exists() and state.exists()

    resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    prune = json.loads((run / "manifest.json").read_text())["stages"]["prune"]["meta"]
    assert prune["finetune"]["resumed_from"] >= 1 and len(prune["finetune"]["epochs"]) == 3

    resumed, reference = model_hashes(run / "manifest.json"), model_hashes(straight.manifest)
    assert len(resumed) == 9  # pruned.safetensors; 2 ONNX exports, 2 int8 files; their cards
    assert resumed == {path: reference[path] for path in resumed}  # the reference also has TFLite files


@pytest.mark.shared
def test_a_failing_target_is_reported_and_fails_the_run(tmp_path, monkeypatch):
    """One unreachable board: the other target's numbers and the report are kept; the exit status is 1."""
    targets = tmp_path / "config" / "targets"
    targets.mkdir(parents=True)
    (targets / "gone.toml").write_text(
        f'transport = "ssh"\nhost = "127.0.0.1"\nport = {free_port()}\nquantize_target = "x86"\n'
    )
    monkeypatch.setenv("EDGERES_CONFIG_DIR", str(tmp_path / "config"))
    config = tmp_path / "pipeline.toml"
    small = CONFIG.replace("enabled = true", "enabled = false").replace('["onnx", "tflite"]', '["onnx"]')
    config.write_text(small.replace('targets = ["local-cpu"]', 'targets = ["local-cpu", "gone"]') + QUICK_INT8)
    result = run_cli("pipeline", config, "--out", tmp_path / "run")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "gone" in errors[0] and "cannot connect" in errors[0]
    page = (tmp_path / "run" / "report.html").read_text()
    assert "<td>original</td><td>onnx</td><td>fp32</td><td>local-cpu</td>" in page and "cannot connect" in page


def test_calibration_is_images_a_recipe_file_or_a_shipped_recipe(tmp_path):
    config = tmp_path / "pipeline.toml"
    folder = CONFIG.replace("calibration_images = 64\n", "")
    config.write_text(folder)
    assert load_config(config)["data"]["calibration_images"] == 256  # images given directly: as before
    config.write_text(folder.replace(f'calibration = "{CIFAR / "train"}"', 'calibration = "cifar10-train-512"'))
    data = load_config(config)["data"]
    assert (data["calibration"], data["calibration_images"]) == ("cifar10-train-512", 512)
    (tmp_path / "mine.toml").write_text(f'data = "{CIFAR / "train"}"\nnum = 96\n')
    config.write_text(folder.replace(f'calibration = "{CIFAR / "train"}"', 'calibration = "mine.toml"'))
    assert load_config(config)["data"]["calibration_images"] == 96
    config.write_text(folder.replace(f'calibration = "{CIFAR / "train"}"', 'calibration = "cifar-512"'))
    with pytest.raises(ConfigError, match=r"\[data\] calibration = 'cifar-512': .* cifar10-train-512"):
        load_config(config)


@pytest.mark.shared
def test_deploy_stage_hands_over_the_fastest_file_and_is_skipped_when_unchanged(tmp_path):
    config = tmp_path / "pipeline.toml"
    text = CONFIG.replace("enabled = true\ntarget_macs = 0.5", "enabled = false").replace('"onnx", "tflite"', '"onnx"')
    config.write_text(text + '[quantize]\nenabled = false\n[deploy]\nenabled = true\noptimize = "none"\n')
    result = run_pipeline(config, tmp_path / "run")
    chosen = result.deployed["original"]
    record = json.loads((tmp_path / "run" / "deploy" / "original" / "deploy.json").read_text())
    assert chosen == {k: record[k] for k in chosen} and record["metric"] == "top1"
    assert record["accuracy"] >= record["reference"] - 0.01  # [deploy] max_drop: 1 point of top-1
    assert "deploy:original" in result.ran
    again = run_pipeline(config, tmp_path / "run")
    assert "deploy:original" in again.skipped and again.deployed == result.deployed
