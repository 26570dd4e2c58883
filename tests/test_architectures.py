"""Every supported architecture: inferred from its weights alone, rebuilt exactly, MACs as published."""

from __future__ import annotations

import pytest
import torch
import torchvision

from edgeres.card import ModelCard
from edgeres.models import build_model, load_model, spec_from_name
from edgeres.models.infer import infer_spec
from edgeres.models.names import TORCHVISION_ARCHS
from edgeres.summary import summarize

NUM_CLASSES = 7  # not 10 or 1000, so a hard-coded class count anywhere fails
CIFAR_ARCHS = [f"cifar_resnet{d}{s}" for d in (20, 32, 44, 56, 110) for s in ("", "_b")]
TORCHVISION = sorted(TORCHVISION_ARCHS)


def _roundtrip(model: torch.nn.Module, tmp_path, size: int, prefix: str = "") -> None:
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": {prefix + k: v for k, v in model.state_dict().items()}}, path)
    loaded = load_model(path)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(loaded.model(x), model.eval()(x))
    return loaded


@pytest.mark.parametrize("arch", TORCHVISION)
def test_torchvision_arch_inferred_and_identical(arch, tmp_path):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=NUM_CLASSES)
    loaded = _roundtrip(model, tmp_path, 64, prefix="module.")
    assert loaded.spec.name == arch
    assert loaded.card.num_classes == NUM_CLASSES
    assert loaded.card.input_size == (224, 224) and loaded.card.resize == 256


@pytest.mark.parametrize("arch", TORCHVISION)
def test_torchvision_macs_match_published(arch):
    published_gmacs = torchvision.models.get_model_weights(arch).DEFAULT.meta["_ops"]
    with torch.device("meta"):
        model = build_model(spec_from_name(arch, 1000))
    card = ModelCard(arch, 1000, (224, 224), (0.5,) * 3, (0.5,) * 3)
    summary = summarize(model, card)
    assert summary.macs / 1e9 == pytest.approx(published_gmacs, rel=0.005)
    assert sum(stage.macs for stage in summary.stages) == summary.macs


@pytest.mark.parametrize("arch", CIFAR_ARCHS)
def test_cifar_arch_inferred_and_identical(arch, tmp_path):
    torch.manual_seed(0)
    model = build_model(spec_from_name(arch, NUM_CLASSES))
    loaded = _roundtrip(model, tmp_path, 32)
    assert loaded.spec.name == arch
    assert loaded.card.input_size == (32, 32) and loaded.card.resize is None


def test_cifar_resnet_depths_and_known_sizes():
    spec = spec_from_name("resnet20", 10)  # the paper's names work when they are not torchvision's
    assert spec.name == "cifar_resnet20" and spec.layers == (3, 3, 3)
    card = ModelCard("cifar_resnet20", 10, (32, 32), (0.5,) * 3, (0.5,) * 3)
    summary = summarize(build_model(spec), card)
    assert summary.params == 269_722  # He et al. Table 6: 0.27M
    assert summary.macs == 40_551_040  # 41 M multiply-adds, the published figure
    assert spec_from_name("resnet50", 10).family == "torchvision"  # 50 = 6*8+2, but torchvision wins
    assert spec_from_name("cifar_resnet50", 10).layers == (8, 8, 8)


def test_pytorch_cifar_layout_maps_to_torchvision_with_3x3_stem(tmp_path):
    """The 4-stage `shortcut`/`linear` layout of popular CIFAR training repos."""
    torch.manual_seed(0)
    model = build_model(spec_from_name("resnet18_cifarstem", NUM_CLASSES))
    renamed = {
        k.replace(".downsample.", ".shortcut.").replace("fc.", "linear."): v for k, v in model.state_dict().items()
    }
    torch.save(renamed, tmp_path / "ckpt.pth")
    loaded = load_model(tmp_path / "ckpt.pth")
    assert loaded.spec.name == "resnet18_cifarstem"
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded.model(x), model.eval()(x))


def test_non_resnet_weights_are_refused_with_the_keys_seen():
    from edgeres.errors import ArchitectureError

    sd = torchvision.models.mobilenet_v2(num_classes=3).state_dict()
    with pytest.raises(ArchitectureError, match="not a ResNet"):
        infer_spec(sd, "mobilenet.pth")
