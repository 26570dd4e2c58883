"""The model card: layered resolution (defaults < checkpoint < sidecar < flags) and strict validation."""

from __future__ import annotations

import json
import shutil

import pytest

from edgeres.card import IMAGENET_MEAN, ModelCard
from edgeres.errors import CardError
from edgeres.models import load_model
from edgeres.options import CardOverrides, LoadOptions

from .conftest import CHECKPOINTS, one_line_error, run_cli

RESNET18 = CHECKPOINTS / "resnet18_cifar10.pth"
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"


def test_card_round_trips_and_rejects_unknown_keys():
    card = ModelCard("resnet18", 3, (224, 224), (0.1, 0.2, 0.3), (0.5, 0.5, 0.5), resize=256, labels=("a", "b", "c"))
    assert ModelCard.from_dict(json.loads(card.to_json())) == card
    with pytest.raises(CardError, match="unknown card keys"):
        ModelCard.from_dict({**card.to_dict(), "mena": [0, 0, 0]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": ("a", "b")}, "2 labels given for a model with 3 classes"),
        ({"std": (0.5, 0.0, 0.5)}, "std must be positive"),
        ({"resize": 100}, "smaller than the crop"),
        ({"interpolation": "lanczos"}, "interpolation must be one of"),
    ],
)
def test_invalid_cards_are_refused(change, message):
    card = ModelCard("resnet18", 3, (224, 224), (0.1, 0.2, 0.3), (0.5, 0.5, 0.5), resize=256)
    with pytest.raises(CardError, match=message):
        card.replace(**change)


@pytest.mark.shared
def test_card_read_from_checkpoint_args():
    card = load_model(RESNET18).card
    assert card.mean == (0.4914, 0.4822, 0.4465) and card.std == (0.247, 0.2435, 0.2616)
    assert card.input_size == (32, 32) and card.resize is None
    assert card.labels[0] == "airplane" and len(card.labels) == 10
    assert card.source_sha256 == "47c2c8f850d717837a6362cd709f7f3304aafeb039aa14fdcaf1a3a0f83ac846"


@pytest.mark.shared
def test_sidecar_overrides_checkpoint_and_flags_override_sidecar(tmp_path):
    ckpt = tmp_path / "resnet20.th"
    shutil.copy(RESNET20, ckpt)
    assert load_model(ckpt).card.mean == IMAGENET_MEAN  # CIFAR family default
    (tmp_path / "resnet20.th.card.toml").write_text('mean = [0.5, 0.5, 0.5]\nlabels = "a b c d e f g h i j"\n')
    with pytest.raises(CardError, match="labels"):
        load_model(ckpt)  # a string is not a list of labels: the sidecar is checked, not trusted
    (tmp_path / "resnet20.th.card.toml").write_text(
        'mean = [0.5, 0.5, 0.5]\nlabels = ["a","b","c","d","e","f","g","h","i","j"]\n'
    )
    assert load_model(ckpt).card.mean == (0.5, 0.5, 0.5)
    flagged = load_model(ckpt, LoadOptions(overrides=CardOverrides(mean="0.4,0.4,0.4", input_size="40"))).card
    assert flagged.mean == (0.4, 0.4, 0.4) and flagged.input_size == (40, 40) and flagged.labels[0] == "a"


@pytest.mark.shared
def test_sidecar_with_unknown_key_names_the_file(tmp_path):
    ckpt = tmp_path / "resnet20.th"
    shutil.copy(RESNET20, ckpt)
    (tmp_path / "resnet20.th.card.json").write_text('{"meen": [0.5, 0.5, 0.5]}')
    line = one_line_error(run_cli("inspect", ckpt))
    assert "resnet20.th.card.json" in line and "meen" in line


@pytest.mark.shared
def test_label_flag_with_wrong_count():
    line = one_line_error(run_cli("inspect", RESNET20, "--labels", "cat,dog"))
    assert "2 labels given for a model with 10 classes" in line
