"""The new layouts go through every stage like the old ones: structured pruning that keeps residual streams
coupled (and, asked to, whole), pruned files that save and rebuild from their spec, and the acceptance trio
(a timm resnet26t, a Hugging Face basic-block ResNet, a pre-activation ResNet) through export (verified),
int8 in ONNX and TFLite, and prune --target-macs from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgeres.models import load_model, save_model
from edgeres.options import CardOverrides, LoadOptions
from edgeres.prune.options import PruneOptions
from edgeres.prune.structured import prune_model

from .conftest import run_cli
from .zoo_models import PreActBlock, PreActResNet, perturb_norms

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")
SMALL = {"layers": (1, 1, 1, 1)}


def _timm(name: str, folder: Path) -> Path:
    torch.save(perturb_norms(timm.create_model(name, num_classes=5, **SMALL)).state_dict(), folder / "w.pth")
    return folder / "w.pth"


def _hf_basic(folder: Path) -> Path:
    config = transformers.ResNetConfig(
        layer_type="basic", depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 48, 64], embedding_size=16, num_labels=5
    )
    perturb_norms(transformers.ResNetForImageClassification(config)).save_pretrained(folder)
    return folder / "model.safetensors"


def _preact(folder: Path) -> Path:
    torch.save({"net": perturb_norms(PreActResNet(PreActBlock, [1, 1, 1, 1], 5)).state_dict()}, folder / "ckpt.pth")
    return folder / "ckpt.pth"


MAKERS = {
    "resnet26t-like": lambda folder: _timm("resnet26t", folder),
    "seresnet": lambda folder: _timm("seresnet18", folder),
    "ecaresnet": lambda folder: _timm("ecaresnet26t", folder),
    "resnetrs": lambda folder: _timm("resnetrs50", folder),
    "huggingface": _hf_basic,
    "preact": _preact,
}
# Where each block's output joins the residual stream, per family.
LAST_CONV = {"basic": "conv2", "bottleneck": "conv3"}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_pruning_keeps_streams_coupled_and_rebuilds_from_its_spec(kind, tmp_path):
    loaded = load_model(MAKERS[kind](tmp_path), LoadOptions(overrides=CardOverrides(input_size="32")))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    pruned, _ = prune_model(loaded, options=PruneOptions(ratio=0.4))
    save_model(pruned.model, pruned.spec, pruned.card, tmp_path / "pruned.safetensors")
    rebuilt = load_model(tmp_path / "pruned.safetensors")
    with torch.inference_mode():
        torch.testing.assert_close(rebuilt.model(x), pruned.model(x))
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert rebuilt.spec.name.endswith("_pruned") and params(rebuilt.model) < 0.8 * params(loaded.model)

    inside, _ = prune_model(loaded, options=PruneOptions(ratio=0.4, keep_residual_width=True))
    before, after = dict(loaded.model.named_modules()), dict(inside.model.named_modules())
    last = f"layer4.0.{LAST_CONV[loaded.spec.block]}"
    assert after[last].out_channels == before[last].out_channels  # the stream keeps its width
    assert after["layer4.0.conv1"].out_channels < before["layer4.0.conv1"].out_channels  # inside a block: pruned


@pytest.fixture(scope="module")
def calibration_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calib")
    rng = np.random.default_rng(0)
    for index in range(16):
        pixels = (rng.random((40, 40, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:02d}.png")
    return folder


@pytest.mark.parametrize("kind", ["resnet26t-like", "huggingface", "preact"])
def test_acceptance_layouts_export_quantize_and_prune_from_the_cli(kind, tmp_path, calibration_images):
    weights = MAKERS[kind](tmp_path)
    weights.with_name(weights.name + ".card.toml").write_text("input_size = 32\nresize = 36\n")
    out = tmp_path / "out"
    result = run_cli("export", weights, "--out", out / "fp32.onnx", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["verification"]["top1_agreement"] == 1.0
    modules = dict(load_model(weights).model.named_modules())
    for suffix in ("onnx", "tflite"):
        result = run_cli("quantize", weights, "--calib", calibration_images, "--out", out / f"int8.{suffix}", "--json")
        assert result.exit_code == 0, result.stderr
        named = {entry["layer"] for entry in json.loads(result.stdout)["sensitivity"]}
        assert named and named <= set(modules) | {"classifier"}, named - set(modules)  # --exclude takes these
    result = run_cli("prune", weights, "--target-macs", "0.5", "--out", out / "pruned.safetensors", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["after"]["macs"] == pytest.approx(0.5 * report["before"]["macs"], rel=0.03)
    pruned = load_model(out / "pruned.safetensors")
    source = load_model(weights).card.source_family
    assert pruned.card.source_family == source and pruned.card.input_size == (32, 32)
