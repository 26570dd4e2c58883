"""Every layout a trained ResNet arrives in loads exactly: each built from its own definition (timm and
transformers from the `dev` extra, small configs; the torch.hub CIFAR zoo and pre-activation ResNets from
tests/zoo_models.py) with random weights, saved as its source saves it, logits compared; and what is no ResNet,
or a config that contradicts its weights, is refused in one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from edgeres.errors import ArchitectureError, EdgeresError
from edgeres.models import load_model

from .conftest import one_line_error, run_cli
from .zoo_models import HubCifarResNet, PreActBlock, PreActBottleneck, PreActResNet, perturb_norms

timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")
CLASSES = 7  # not 10 or 1000: a hard-coded class count fails


def _same_logits(model: torch.nn.Module, path: Path, size: int = 64) -> None:
    loaded = load_model(path)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = model(x)
        expected = getattr(expected, "logits", expected)
        torch.testing.assert_close(loaded.model(x), expected, rtol=1e-5, atol=1e-5)
    return loaded


# timm's variants: the table, then more of the same families. Those marked None are built with one
# block per stage (timm's own definition, fewer blocks: the switches are what is tested, and it is quicker).
TIMM = {"resnet18": "resnet18", "resnet26t": "resnet26t", "resnet50d": None, "seresnet50": None}
TIMM |= {"resnet10t": "resnet10t", "resnet14t": "resnet14t", "ecaresnet26t": None, "seresnext26d_32x4d": None}
TIMM |= {"resnet50c": None, "resnet50s": None, "resnetrs50": None, "ecaresnetlight": None, "resnext50_32x4d": None}


@pytest.mark.parametrize("name", sorted(TIMM))
def test_timm_resnets_load_exactly_as_timm_saves_them(name, tmp_path):
    short = {} if TIMM[name] else {"layers": (1, 1, 1, 1)}
    model = perturb_norms(timm.create_model(name, num_classes=CLASSES, **short))
    path = tmp_path / "checkpoint.pth.tar"  # as timm's train.py saves it: arch, state_dict, metric
    torch.save({"epoch": 3, "arch": name, "state_dict": model.state_dict(), "metric": 0.5}, path)
    loaded = _same_logits(model, path)
    assert loaded.card.num_classes == CLASSES
    assert TIMM[name] is None or loaded.spec.name == name
    plain = name in ("resnet18", "resnext50_32x4d")
    assert loaded.card.source_family.startswith("torchvision" if plain else "timm")


def test_timm_hub_folder_carries_its_preprocessing_and_labels(tmp_path):
    from timm.models import save_for_hf

    model = perturb_norms(timm.create_model("resnet26t", num_classes=3))
    labels = ["cat", "dog", "fox"]
    save_for_hf(model, tmp_path, model_config={"label_names": labels}, safe_serialization=True)
    cfg = json.loads((tmp_path / "config.json").read_text())["pretrained_cfg"]
    loaded = _same_logits(model, tmp_path)  # the folder, as downloaded from the hub
    card = loaded.card
    size = cfg["input_size"][1]
    assert card.input_size == (size, size) and card.resize == int(size / cfg["crop_pct"])
    assert (card.interpolation, card.mean, card.std) == (cfg["interpolation"], tuple(cfg["mean"]), tuple(cfg["std"]))
    assert card.labels == tuple(labels) and card.source_family == f"timm (resnet26t.{cfg['tag']})"


HF_CONFIGS = {
    "basic": {"layer_type": "basic", "depths": [2, 1, 2, 1], "hidden_sizes": [16, 24, 32, 48], "embedding_size": 8},
    "bottleneck": {"layer_type": "bottleneck", "depths": [1, 2, 1, 1], "hidden_sizes": [32, 64, 96, 128]},
    "strided": {
        "layer_type": "bottleneck",
        "depths": [1, 1, 1],
        "hidden_sizes": [32, 64, 128],
        "downsample_in_first_stage": True,
        "downsample_in_bottleneck": True,
    },
}


def _hf_model(kind: str, folder: Path) -> torch.nn.Module:
    config = transformers.ResNetConfig(
        num_labels=CLASSES, id2label={i: f"class{i}" for i in range(CLASSES)}, **HF_CONFIGS[kind]
    )
    model = perturb_norms(transformers.ResNetForImageClassification(config))
    model.save_pretrained(folder)
    processor = transformers.ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875, resample=3)
    processor.save_pretrained(folder)
    return model


@pytest.mark.parametrize("kind", sorted(HF_CONFIGS))
def test_hugging_face_resnets_load_exactly_with_their_configs(kind, tmp_path):
    model = _hf_model(kind, tmp_path)
    loaded = _same_logits(model, tmp_path / "model.safetensors")
    card = loaded.card
    assert card.labels == tuple(f"class{i}" for i in range(CLASSES))
    assert (card.input_size, card.resize, card.interpolation) == ((224, 224), 256, "bicubic")
    assert card.source_family.startswith("Hugging Face")


def test_hugging_face_pytorch_bin_without_config_assumes_defaults(tmp_path):
    config = transformers.ResNetConfig(num_labels=4, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 48, 64])
    model = perturb_norms(transformers.ResNetForImageClassification(config))
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    loaded = _same_logits(model, tmp_path / "pytorch_model.bin")
    assert "without its config.json" in loaded.card.source_family and loaded.card.labels is None


def test_hugging_face_config_that_contradicts_the_weights_names_both(tmp_path):
    _hf_model("basic", tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["depths"] = [2, 2, 2, 2]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArchitectureError, match=r"config\.json declares layers \[2, 2, 2, 2\].*model\.safetensors"):
        load_model(tmp_path / "model.safetensors")
    config["depths"] = 4  # a field of the wrong type: one line naming the file, from the CLI too
    (tmp_path / "config.json").write_text(json.dumps(config))
    line = one_line_error(run_cli("inspect", tmp_path))
    assert "config.json" in line and "malformed" in line


@pytest.mark.parametrize(("blocks", "classes", "mean"), [(3, 10, 0.4914), (9, 100, 0.5070)])
def test_torch_hub_cifar_zoo_loads_exactly_with_its_normalization(blocks, classes, mean, tmp_path):
    model = perturb_norms(HubCifarResNet(blocks, classes))
    torch.save(model.state_dict(), tmp_path / "cifar_resnet.pt")
    loaded = _same_logits(model, tmp_path / "cifar_resnet.pt", size=32)
    assert loaded.spec.name == f"cifar_resnet{6 * blocks + 2}_b"
    assert loaded.card.input_size == (32, 32) and loaded.card.mean[0] == pytest.approx(mean)
    assert loaded.card.source_family.startswith("torch.hub CIFAR")


@pytest.mark.parametrize(
    ("block", "blocks", "name"),
    [
        (PreActBlock, [2, 2, 2, 2], "preact_resnet18"),
        (PreActBlock, [3, 4, 6, 3], "preact_resnet34"),
        (PreActBottleneck, [1, 2, 1, 1], "preact_resnet_custom"),  # PreActResNet50's blocks, fewer of them
    ],
)
def test_pre_activation_resnets_load_exactly(block, blocks, name, tmp_path):
    model = perturb_norms(PreActResNet(block, blocks, CLASSES))
    # an `arch` entry that is no timm name is anybody's: it neither helps nor blocks
    torch.save({"net": model.state_dict(), "acc": 91.0, "epoch": 180, "arch": "PreActResNet"}, tmp_path / "ckpt.pth")
    loaded = _same_logits(model, tmp_path / "ckpt.pth", size=32)
    assert loaded.spec.name == name and loaded.card.input_size == (32, 32)


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("vit_tiny_patch16_224", "a Vision Transformer"),
        ("convnext_atto", "a ConvNeXt"),
        ("regnetx_002", "a RegNet"),
        ("resnet50_gn", "no running statistics"),
    ],
)
def test_timm_networks_that_are_no_resnet_are_refused_by_name(name, what, tmp_path):
    short = {"layers": (1, 1, 1, 1)} if name == "resnet50_gn" else {}
    torch.save(timm.create_model(name, num_classes=3, **short).state_dict(), tmp_path / "w.pth")
    with pytest.raises(EdgeresError, match=what):
        load_model(tmp_path / "w.pth")


def test_configs_naming_other_networks_are_refused(tmp_path):
    """Anti-aliased ResNets have a plain ResNet's very weights: only their name tells them apart."""
    from timm.models import save_for_hf

    save_for_hf(timm.create_model("resnetaa50", num_classes=3), tmp_path, safe_serialization=True)
    with pytest.raises(ArchitectureError, match="'resnetaa50' is not one of the ResNets"):
        load_model(tmp_path)
    torch.save({"arch": "resnetblur18", "state_dict": timm.create_model("resnet18").state_dict()}, tmp_path / "c.pth")
    with pytest.raises(ArchitectureError, match="'resnetblur18'"):
        load_model(tmp_path / "c.pth")
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(num_hidden_layers=1, hidden_size=32))
    vit.save_pretrained(tmp_path / "vit")
    with pytest.raises(EdgeresError, match="'vit' model, not a ResNet"):
        load_model(tmp_path / "vit")
