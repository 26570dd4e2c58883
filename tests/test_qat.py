"""Quantization-aware fine-tuning (issue 33): the int8 file holds the integers the model trained with, the CLI
runs it end to end on real data, an interrupted run resumes to the same file, and bad requests are one line.
Small subsets and one epoch here; full-split numbers are benchmarks/int8_accuracy.py's (docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgeres.formats import registry
from edgeres.isa import local_cpu, mismatch
from edgeres.models import load_model
from edgeres.quantize import QuantizeSettings
from edgeres.quantize.calibration_recipes import resolve_calibration
from edgeres.quantize.engine import WIDE_IN_FLOAT, Int8Job, open_engine
from edgeres.quantize.prepare.grid import Grid
from edgeres.quantize.qat.settings import QatSettings
from edgeres.quantize.qat.step import requantize_after_qat
from edgeres.quantize.recipes import recipe_for
from edgeres.quantize.source import prepare_source

from .conftest import CHECKPOINTS, CIFAR, ROOT, interrupt_when_exists, one_line_error, run_cli, shipped_recipe
from .int8_weights import onnx_int8_weights, onnx_int32_biases, tflite_int8_weights, tflite_int32_biases
from .pte_weights import pte_activation_grids, pte_int8_weights, pte_int32_biases

pytestmark = pytest.mark.shared
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"
RESNET18 = CHECKPOINTS / "resnet18_cifar10.pth"
TRAIN = ("--qat", str(CIFAR / "train"), "--finetune-limit", "256", "--epochs", "1")


STORED_WEIGHTS = {"onnx": onnx_int8_weights, "tflite": tflite_int8_weights, "pte": pte_int8_weights}
STORED_BIASES = {"onnx": onnx_int32_biases, "tflite": tflite_int32_biases, "pte": pte_int32_biases}


@pytest.mark.parametrize(  # ORT U8S8 with 7-bit weights; S8S8, its adds quantized alone; XNNPACK's asymmetric int8
    "fmt, target, checkpoint",  # option-A shortcuts; torchvision's in-place adds and its stem's padded max pool
    [("onnx", "x86", RESNET20), ("onnx", "arm64", RESNET20), ("tflite", "x86", RESNET18), ("pte", "x86", RESNET18)],
    ids=["onnx-x86-resnet20", "onnx-arm64-resnet20", "tflite-resnet18", "pte-resnet18"],
)  # TFLite's case learns the activation scales too (LSQ): its file must keep the learned grids
def test_the_int8_file_holds_the_integers_qat_trained(tmp_path, monkeypatch, fmt, target, checkpoint):
    """Weights: the file's integers are the fine-tuned weights on the recipe's grid, exactly. Activations: every
    quantized tensor keeps the scale and zero point QAT simulated. Outputs: the file computes what the
    simulated model did (integer kernels may round a value differently now and then)."""
    monkeypatch.setenv("EDGERES_CACHE_DIR", str(tmp_path / "cache"))
    recipe = recipe_for(fmt, target)
    qat = QatSettings(data=CIFAR / "train", epochs=1, limit=64, learn_scales=fmt == "tflite")
    settings = QuantizeSettings(calib=shipped_recipe("cifar10-train-128"), target=target, qat=qat, optimize="none")
    source = prepare_source(load_model(checkpoint), recipe, resolve_calibration(settings.calib), settings, tmp_path,
                            lambda *_: None)  # fmt: skip
    assert source.loaded is not None
    job = Int8Job(source.file, recipe, source.calibration, source.card, tmp_path / "cache", source.loaded.model)
    engine = open_engine(job)
    engine.wide = wide = engine.layers[:1] if engine.wide_kind == WIDE_IN_FLOAT else []  # the stem kept in float
    int8 = tmp_path / f"int8.{fmt}"
    engine.quantize(int8, [])
    reader = registry.named(fmt).load(registry.int8_support(fmt).qat or "")
    simulated = reader(source.file, int8, engine).grids
    out = tmp_path / f"out.{fmt}"
    made, outcome, agreement = requantize_after_qat(engine, recipe, int8, source, [], qat, out, tmp_path,
                                                   lambda *_: None)  # fmt: skip
    assert outcome.log.images == 64 and len(outcome.log.epochs) == 1 and outcome.simulated >= 30

    grid = Grid.of(recipe)
    layers = {n: m for n, m in outcome.model.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    in_float = {layer.name for layer in wide}
    trained = [grid.weight_integers(m.weight.detach()).numpy().astype(np.int8) for n, m in layers.items()
               if n not in in_float]  # fmt: skip
    for name in in_float:  # a float layer's weights are trained off the int8 grid
        weight = layers[name].weight.detach()
        assert not torch.equal(grid.fake_quant_weight(weight), weight)
    stored = STORED_WEIGHTS[fmt](int8)
    assert sorted(w.tobytes() for w in stored) == sorted(w.tobytes() for w in trained)
    # biases: the file's int32 grid holds the trained values exactly
    biases = [m.bias.detach().numpy() for n, m in layers.items() if n not in in_float and m.bias is not None]
    assert sorted(b.tobytes() for b in STORED_BIASES[fmt](int8)) == sorted(b.tobytes() for b in biases)
    assert reader(source.file, int8, made).grids == outcome.grids  # the trained scales and zero points, all of them
    if fmt == "pte":  # read above from the program lowered into the file; here from the file's own bytes
        in_file = {(round(g.scale, 6), g.zero_point) for g in outcome.grids.values()}
        assert pte_activation_grids(int8) == in_file
    assert outcome.grids.keys() == simulated.keys()
    assert (outcome.grids != simulated) == qat.learn_scales  # learned scales moved, fixed ones did not
    assert agreement is not None
    if mismatch(str(int8), recipe.isa, local_cpu()) is None:  # full-range S8S8 saturates on an AVX2-only CPU
        assert agreement >= 0.98


def test_qat_from_the_cli_is_scored_and_an_interrupted_run_resumes_to_the_same_file(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "EDGERES_CACHE_DIR": str(tmp_path / "cache")}
    args = ["quantize", str(RESNET20), "--calib", str(CIFAR / "train"), "--num", "64", "--optimize", "none",
            "--qat", str(CIFAR / "train"), "--finetune-limit", "64", "--epochs", "2"]  # fmt: skip
    cli = [sys.executable, str(ROOT / "cli.py"), *args]
    whole, cut = tmp_path / "whole.onnx", tmp_path / "cut.onnx"
    done = subprocess.run([*cli, "--out", str(whole), "--eval", str(CIFAR / "test"), "--eval-limit", "200", "--json"],
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["qat"]["log"]["images"] == 64 and len(report["qat"]["log"]["epochs"]) == 2
    assert report["qat"]["file_agrees_with_simulation"] >= 0.95 and report["qat"]["simulated_tensors"] >= 30
    assert report["accuracy"]["n"] == 200 and report["accuracy"]["drop_pp"] < 2.0
    assert not (tmp_path / "whole.onnx.qat.pt").exists()  # the training state goes once the file is written

    state = tmp_path / "cut.onnx.qat.pt"
    interrupt_when_exists([*cli, "--out", str(cut)], state, env)
    assert state.exists() and not cut.exists()
    other = [a if a != "64" else "65" for a in args]  # another calibration: other grids than the state's
    line = one_line_error(run_cli(*other, "--out", cut, "--resume", "--json"))
    assert str(state) in line and "another" in line and not cut.exists()
    resumed = subprocess.run([*cli, "--out", str(cut), "--resume"], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "qat     2 epoch(s) on 64 images" in resumed.stdout and "agrees with the simulated model" in resumed.stdout
    assert cut.read_bytes() == whole.read_bytes() and not state.exists()


@pytest.mark.parametrize(
    "flags, says",
    [
        (("--epochs", "3"), "--epochs applies to --qat DIR"),
        (("--resume",), "--resume applies to --qat DIR"),
        ((*TRAIN, "--resume"), "--resume: no saved QAT state"),
    ],
)
def test_qat_requests_that_cannot_run_are_one_line(tmp_path, flags, says):
    out = tmp_path / "q.onnx"
    line = one_line_error(run_cli("quantize", RESNET20, "--calib", CIFAR / "train", "--num", "32", "--out", out,
                                  *flags))  # fmt: skip
    assert says in line and not out.exists()


def test_qat_refuses_an_exported_file_and_data_of_other_classes(tmp_path, exported):
    line = one_line_error(run_cli("quantize", exported("resnet20-12fca82f.th", "onnx"), "--calib", CIFAR / "train",
                                  "--out", tmp_path / "q.onnx", *TRAIN))  # fmt: skip
    assert "--qat fine-tunes PyTorch weights" in line
    three = tmp_path / "three"
    for folder in sorted((CIFAR / "train").iterdir())[:3]:
        (three / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:4]:
            (three / folder.name / image.name).write_bytes(image.read_bytes())
    line = one_line_error(run_cli("quantize", RESNET20, "--calib", CIFAR / "train", "--num", "32", "--out",
                                  tmp_path / "q.onnx", "--qat", three))  # fmt: skip
    assert str(three) in line and "3 classes" in line and not (tmp_path / "q.onnx").exists()


@pytest.mark.parametrize(
    "lines, says",
    [
        ('[quantize]\nenabled = false\nqat = "{train}"\n[export]\nformats = ["onnx"]\n', "enabled = false makes none"),
        ('[quantize]\nqat = "{train}"\nqat_epochs = 0\n', r"\[quantize\] qat_epochs must be at least 1"),
        ('[quantize]\nqat = "no/such/folder"\n[export]\nformats = ["onnx"]\n', "does not exist; fix the path"),
    ],
)
def test_pipeline_qat_keys_are_checked_before_any_stage(tmp_path, lines, says):
    from edgeres.pipeline.config import ConfigError, load_config

    config = tmp_path / "pipeline.toml"
    head = f'[model]\ncheckpoint = "{RESNET20}"\n[data]\ncalibration = "{CIFAR / "train"}"\n'
    head += f'evaluation = "{CIFAR / "test"}"\n'
    config.write_text(head + lines.replace("{train}", str(CIFAR / "train")))
    with pytest.raises(ConfigError, match=says):
        load_config(config)
    config.write_text(head + f'[quantize]\nqat = "{CIFAR / "train"}"\n[export]\nformats = ["onnx"]\n')
    assert load_config(config)["quantize"]["qat"] == str((CIFAR / "train").resolve())


def test_a_model_torch_fx_cannot_trace_is_refused_by_name():
    """QAT rounds in the model's traced graph; a model with data-dependent control flow is named, not guessed."""
    from edgeres.errors import RecipeError
    from edgeres.quantize.qat.graph import trace

    class Branchy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) if x.sum() > 0 else -self.conv(x)

    with pytest.raises(RecipeError, match=r"Branchy does not trace \(.*\); quantize it without --qat"):
        trace(Branchy())
    assert trace(load_model(RESNET20).model).graph.find_nodes(op="call_module", target="conv1")  # what QAT needs
