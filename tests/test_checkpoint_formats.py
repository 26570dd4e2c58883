"""Every checkpoint layout of the foundation issue loads to the same logits as the original file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from edgeres.models import build_model, load_model, save_model
from edgeres.options import LoadOptions

from .conftest import CHECKPOINTS, SHARED_CKPTS

pytestmark = pytest.mark.shared

Writer = Callable[[dict[str, torch.Tensor], torch.nn.Module, Path], None]


def _prefixed(prefix: str) -> Writer:
    return lambda sd, _m, path: torch.save({prefix + k: v for k, v in sd.items()}, path)


def _wrapped(key: str) -> Writer:
    return lambda sd, _m, path: torch.save({key: sd, "epoch": 3, "best_acc": 0.9}, path)


def _lightning(sd: dict[str, torch.Tensor], _m: torch.nn.Module, path: Path) -> None:
    # The layout Lightning's ModelCheckpoint writes for a LightningModule holding `self.model`.
    torch.save(
        {
            "epoch": 9,
            "global_step": 3910,
            "pytorch-lightning_version": "2.4.0",
            "state_dict": {"model." + k: v for k, v in sd.items()},
            "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 9}}}},
            "callbacks": {},
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]}],
            "lr_schedulers": [],
            "hyper_parameters": {"lr": 0.1, "batch_size": 128},
        },
        path,
    )


FORMATS: dict[str, Writer] = {
    "plain": lambda sd, _m, path: torch.save(sd, path),
    "legacy-pickle": lambda sd, _m, path: torch.save(sd, path, _use_new_zipfile_serialization=False),
    "state_dict-key": _wrapped("state_dict"),
    "model-key": _wrapped("model"),
    "model_state_dict-key": _wrapped("model_state_dict"),
    "net-key": _wrapped("net"),
    "module-prefix": _prefixed("module."),
    "model-prefix": _prefixed("model."),
    "orig_mod-prefix": _prefixed("_orig_mod."),
    "compiled-ddp-prefix": _prefixed("_orig_mod.module."),
    "lightning-ckpt": _lightning,
    "safetensors": lambda sd, _m, path: save_file({k: v.contiguous() for k, v in sd.items()}, str(path)),
}
CAST = {"float16": torch.float16, "bfloat16": torch.bfloat16}


def _logits(model: torch.nn.Module, batch: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        return model.eval()(torch.from_numpy(batch))


@pytest.fixture(scope="module", params=sorted(SHARED_CKPTS))
def original(request: pytest.FixtureRequest) -> tuple[str, object]:
    return request.param, load_model(CHECKPOINTS / request.param)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_resaved_formats_give_identical_logits(original, fmt, tmp_path, real_batch):
    name, loaded = original
    sd = loaded.model.state_dict()
    path = tmp_path / ("model.ckpt" if fmt == "lightning-ckpt" else "model.pt")
    FORMATS[fmt](sd, loaded.model, path)
    again = load_model(path)
    assert again.spec == loaded.spec
    assert again.card.arch == SHARED_CKPTS[name][0]
    assert torch.equal(_logits(again.model, real_batch), _logits(loaded.model, real_batch))


@pytest.mark.parametrize("dtype", sorted(CAST))
def test_half_precision_weights_are_cast_to_float32(original, dtype, tmp_path, real_batch):
    _, loaded = original
    sd = {k: v.to(CAST[dtype]) if v.is_floating_point() else v for k, v in loaded.model.state_dict().items()}
    torch.save({"model": sd}, tmp_path / "half.pth")
    again = load_model(tmp_path / "half.pth")
    assert all(p.dtype == torch.float32 for p in again.model.parameters())
    expected = build_model(loaded.spec)  # the same weights, rounded to half and back, loaded by hand
    expected.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    assert torch.equal(_logits(again.model, real_batch), _logits(expected, real_batch))


def test_own_format_keeps_spec_and_card(original, tmp_path, real_batch):
    _, loaded = original
    card = loaded.card.replace(labels=tuple(f"class{i}" for i in range(10)), mean=(0.5, 0.5, 0.5))
    path = save_model(loaded.model, loaded.spec, card, tmp_path / "model.safetensors")
    again = load_model(path)
    assert again.spec == loaded.spec
    assert again.card.labels == card.labels and again.card.mean == (0.5, 0.5, 0.5)
    assert torch.equal(_logits(again.model, real_batch), _logits(loaded.model, real_batch))


def test_pickled_module_and_torchscript_load_only_with_trust(original, tmp_path, real_batch):
    from edgeres.errors import UnsafeCheckpointError

    _, loaded = original
    pickled, scripted = tmp_path / "full.pt", tmp_path / "scripted.pt"
    torch.save(loaded.model, pickled)
    torch.jit.save(torch.jit.trace(loaded.model, torch.from_numpy(real_batch[:1])), scripted)
    for path in (pickled, scripted):
        with pytest.raises(UnsafeCheckpointError, match="--trust"):
            load_model(path)
        again = load_model(path, LoadOptions(trust=True))
        assert again.spec == loaded.spec
        assert torch.equal(_logits(again.model, real_batch), _logits(loaded.model, real_batch))
