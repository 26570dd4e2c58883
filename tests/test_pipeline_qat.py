"""Pruning and QAT as one fine-tuning in the pipeline (issue 33): with [prune] train and [quantize] qat both set,
the pruned model's float epochs are [prune] epochs less qat_epochs, its last epochs are the QAT of its first
int8 file, distilling from the unpruned model, and the checkpoint the rest of the run starts from holds the
weights whose integers that file stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeres.isa import local_cpu, target_for_cpu
from edgeres.models import load_model
from edgeres.pipeline import ConfigError, load_config, run_pipeline
from edgeres.quantize.prepare.fold import fold_batch_norms
from edgeres.quantize.prepare.grid import Grid
from edgeres.quantize.recipes import recipe_for

from .conftest import CHECKPOINTS, CIFAR
from .int8_weights import onnx_int8_weights

pytestmark = pytest.mark.shared
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"
CONFIG = f"""
[model]
checkpoint = "{RESNET20}"
[data]
calibration = "{CIFAR / "train"}"
evaluation = "{CIFAR / "test"}"
calibration_images = 64
evaluation_images = 100
[prune]
enabled = true
target_macs = 0.5
train = "{CIFAR / "train"}"
train_images = 128
epochs = 2
[export]
formats = ["onnx"]
[quantize]
optimize = "none"
qat = "{CIFAR / "train"}"
qat_epochs = 1
qat_images = 64
[bench]
min_runs = 5
min_seconds = 0.0
"""


def _integers(checkpoint: Path, grid: Grid) -> list[bytes]:
    """The checkpoint's conv and linear weights, batch norms folded, on the int8 grid."""
    model = load_model(checkpoint).model.eval()
    fold_batch_norms(model)
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    return sorted(grid.weight_integers(layer.weight.detach()).numpy().astype(np.int8).tobytes() for layer in layers)


def test_the_pruned_model_is_fine_tuned_once_its_last_epoch_on_the_int8_grid(tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text(CONFIG)
    result = run_pipeline(config, tmp_path / "run")
    stages = json.loads(result.manifest.read_text())["stages"]
    recipe = target_for_cpu(local_cpu())
    models = tmp_path / "run" / "models"
    assert len(stages["prune"]["meta"]["finetune"]["epochs"]) == 1  # 2 epochs, the last of them QAT
    joint = stages[f"quantize:pruned:onnx:{recipe}"]
    assert len(joint["meta"]["qat"]["log"]["epochs"]) == 1 and joint["meta"]["qat"]["log"]["images"] == 64
    assert {str(models / "pruned_before_qat.safetensors"), str(RESNET20.resolve())} <= set(joint["inputs"])  # teacher
    checkpoint = str(models / "pruned.safetensors")
    assert stages["export:pruned:onnx"]["inputs"] == {checkpoint: joint["outputs"][checkpoint]}
    assert len(stages[f"quantize:original:onnx:{recipe}"]["meta"]["qat"]["log"]["epochs"]) == 1

    grid = Grid.of(recipe_for("onnx", recipe))
    stored = onnx_int8_weights(tmp_path / "run" / "files" / f"pruned_int8_{recipe}.onnx")
    assert _integers(models / "pruned.safetensors", grid) == sorted(w.tobytes() for w in stored)
    assert _integers(models / "pruned_before_qat.safetensors", grid) != sorted(w.tobytes() for w in stored)

    again = run_pipeline(config, tmp_path / "run")
    assert again.ran == [] and f"quantize:pruned:onnx:{recipe}" in again.skipped


def test_qat_epochs_beyond_the_pruned_models_epochs_are_refused(tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text(CONFIG.replace("qat_epochs = 1", "qat_epochs = 3"))
    with pytest.raises(ConfigError, match=r"qat_epochs = 3 is more than \[prune\] epochs = 2.*qat_epochs <= epochs"):
        load_config(config)
