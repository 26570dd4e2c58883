"""Structured pruning: residual-coupled channels, MAC targets, self-contained files that reload, export and
quantize, real latency cuts, and fine-tuning that survives an interruption."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgeres.bench import BenchSettings, TimingConfig, bench_models
from edgeres.export import export_model
from edgeres.models import load_model, save_model
from edgeres.models.cifar_resnet import PadShortcut
from edgeres.options import RuntimeOptions
from edgeres.prune.options import IMPORTANCES, PruneOptions
from edgeres.prune.structured import prune_model
from edgeres.quantize import QuantizeSettings, quantize_model
from edgeres.summary import summarize

from .conftest import CHECKPOINTS, CIFAR, ROOT, interrupt_when_exists, one_line_error, run_cli

pytestmark = pytest.mark.shared
MODELS = ["resnet20-12fca82f.th", "resnet18_cifar10.pth"]


@pytest.fixture(scope="module", params=MODELS)
def pruned(request, tmp_path_factory):
    """(original, pruned in memory, saved file) at 50% of the MACs."""
    original = load_model(CHECKPOINTS / request.param)
    model, options = prune_model(original, target_macs=0.5)
    path = tmp_path_factory.mktemp("pruned") / "pruned.safetensors"
    save_model(model.model, model.spec, model.card, path)
    return original, model, path, options


def macs(loaded) -> int:
    return summarize(loaded.model, loaded.card).macs


def test_target_macs_reached_within_3_percent(pruned):
    original, model, _, options = pruned
    assert abs(macs(model) / macs(original) - 0.5) <= 0.03 * 0.5
    assert 0 < options.ratio < 1 and model.spec.name.endswith("_pruned")
    assert original.spec.channels == ()  # the original is untouched


def test_pruned_file_reloads_safely_with_identical_logits(pruned, real_batch):
    _, model, path, _ = pruned
    back = load_model(path)  # safetensors: spec + weights + card, no pickled module anywhere
    assert back.spec == model.spec and back.card.num_classes == 10
    x = torch.from_numpy(real_batch)
    with torch.inference_mode():
        assert torch.equal(back.model(x), model.model(x))


def test_classifier_and_residual_coupling(pruned):
    _, model, _, _ = pruned
    linear = [m for m in model.model.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert linear.out_features == 10
    for block in [m for m in model.model.modules() if hasattr(m, "conv2") and hasattr(m, "bn2")]:
        last = getattr(block, "conv3", block.conv2)
        shortcut = getattr(block, "shortcut", None) or getattr(block, "downsample", None)
        if isinstance(shortcut, PadShortcut):  # option A: the channel map lines up with the block's output
            assert shortcut.out_planes == last.out_channels and len(shortcut.channel_sources()) == last.out_channels
            assert int(shortcut.channel_sources().max()) <= shortcut.in_planes
    widths = {c[0]: c[1] for c in model.spec.channels}
    assert all(w % 8 == 0 for path, w in widths.items() if "linear" not in path and path != "fc")


def test_option_a_channel_map_equals_zero_padding():
    shortcut = PadShortcut(16, 32, 2)
    x = torch.randn(2, 16, 8, 8)
    mapped = PadShortcut(16, 32, 2, index=shortcut.channel_sources())
    assert torch.equal(shortcut(x), mapped(x))


# resnet18 (torchvision) only: a pruned resnet20 is exported to both formats and quantized by the pipeline tests.
@pytest.mark.parametrize("pruned", ["resnet18_cifar10.pth"], indirect=True)
def test_pruned_model_exports_and_quantizes(pruned, tmp_path):
    _, _, path, _ = pruned
    for fmt in ("onnx", "tflite"):
        exported = export_model(path, tmp_path / f"p.{fmt}")  # verified against PyTorch on random inputs
        assert exported.verification is not None and exported.verification.passed
        # `none`: preparation of a pruned model is covered by the demo test's pipeline (`fast`, the default).
        int8 = quantize_model(
            exported.path, tmp_path / f"p_int8.{fmt}", QuantizeSettings(calib=CIFAR / "train", num=32, optimize="none")
        )
        assert int8.path.exists() and int8.int8_bytes < exported.file_bytes


def test_keep_residual_width_prunes_inside_blocks_only(tmp_path, real_batch):
    original = load_model(CHECKPOINTS / "resnet20-12fca82f.th")
    model, _ = prune_model(original, options=PruneOptions(ratio=0.5, keep_residual_width=True))
    widths = {c[0]: c[1] for c in model.spec.channels}
    assert widths["conv1"] == 16 and widths["layer3.2.conv2"] == 64
    assert widths["layer1.0.conv1"] == 8 and widths["layer3.0.conv1"] == 32
    # the untouched option A shortcuts rebuild as standard ones: the file loads with the same logits
    back = load_model(save_model(model.model, model.spec, model.card, tmp_path / "inner.safetensors"))
    x = torch.from_numpy(real_batch)
    with torch.inference_mode():
        assert torch.equal(back.model(x), model.model(x))


@pytest.mark.parametrize("importance", [i for i in IMPORTANCES if i != "taylor"])
def test_importances_and_global_ranking(importance):
    original = load_model(CHECKPOINTS / "resnet20-12fca82f.th")
    options = PruneOptions(ratio=0.3, importance=importance, global_pruning=True, round_to=None)
    model, _ = prune_model(original, options=options)
    assert macs(model) < 0.8 * macs(original)
    assert model.model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_cli_importance_choices_match_the_library():
    from edgeres.cli.prune import prune

    (option,) = [p for p in prune.params if p.name == "importance"]
    assert tuple(option.type.choices) == IMPORTANCES


@pytest.mark.timing
@pytest.mark.slow
def test_latency_falls_at_least_60_percent_as_much_as_macs(tmp_path, exported):
    """resnet18_cifar10 at 50% MACs, ONNX fp32, batch 1: timed side by side in one interleaved run. How much of
    the MAC cut shows depends on the CPU: 0.56 of latency cut on an AVX2-only EPYC, 0.35-0.38 on an AMX Xeon
    (where its small convs are closer to per-call overhead); 70% of the MAC cut failed there once at 0.346."""
    original = load_model(CHECKPOINTS / "resnet18_cifar10.pth")
    model, _ = prune_model(original, target_macs=0.5)
    save_model(model.model, model.spec, model.card, tmp_path / "pruned.safetensors")
    before = exported("resnet18_cifar10.pth", "onnx")
    after = export_model(tmp_path / "pruned.safetensors", tmp_path / "after.onnx").path
    settings = BenchSettings(options=RuntimeOptions(threads=2), timing=TimingConfig(min_runs=400, min_seconds=3))
    run = bench_models([before, after], settings)
    latency_cut = 1 - run.entries[1].stats.p50_ms / run.entries[0].stats.p50_ms
    mac_cut = 1 - macs(model) / macs(original)
    assert latency_cut >= 0.6 * mac_cut, (latency_cut, mac_cut)


def test_cli_errors_are_one_line(tmp_path):
    ckpt = CHECKPOINTS / "resnet20-12fca82f.th"
    out = tmp_path / "p.safetensors"
    result = run_cli("prune", ckpt, "--out", out)
    assert result.exit_code == 2 and "exactly one of --ratio, --target-macs and --target-latency" in result.stderr
    line = one_line_error(run_cli("prune", ckpt, "--ratio", "0.3", "--importance", "taylor", "--out", out))
    assert "--data DIR" in line and not out.exists()
    line = one_line_error(run_cli("prune", ckpt, "--ratio", "0.3", "--resume", "--out", out))
    assert "--finetune DIR" in line
    out.write_bytes(b"keep me")
    line = one_line_error(run_cli("prune", ckpt, "--ratio", "0.3", "--out", out))
    assert "--force" in line and out.read_bytes() == b"keep me"
    line = one_line_error(
        run_cli("prune", ckpt, "--target-macs", "0.05", "--keep-residual-width", "--out", tmp_path / "x.safetensors")
    )
    assert "could not prune to 5% of the MACs" in line


def test_taylor_importance_with_data(tmp_path):
    out = tmp_path / "t.safetensors"
    result = run_cli(
        "prune",
        CHECKPOINTS / "resnet20-12fca82f.th",
        "--ratio",
        "0.3",
        "--importance",
        "taylor",
        "--data",
        CIFAR / "train",
        "--out",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["options"]["importance"] == "taylor" and report["after"]["macs"] < report["before"]["macs"]
    assert load_model(out).spec.name == "cifar_resnet20_pruned"


@pytest.mark.slow
def test_finetune_interrupted_by_a_signal_resumes_to_the_same_model(tmp_path):
    """A real SIGINT after the first epoch's checkpoint; --resume finishes; result equals an uninterrupted run."""
    args = [
        "prune",
        str(CHECKPOINTS / "resnet20-12fca82f.th"),
        "--target-macs",
        "0.5",
        "--finetune",
        str(CIFAR / "train"),
        "--finetune-limit",
        "300",
        "--epochs",
        "3",
        "--distill",
    ]
    out = tmp_path / "resumed.safetensors"
    state = tmp_path / "resumed.safetensors.finetune.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    interrupt_when_exists([sys.executable, str(ROOT / "cli.py"), *args, "--out", str(out)], state, env)
    assert state.exists() and not out.exists()  # the epoch checkpoint is kept, no half-written model

    other = [a if a != "0.5" else "0.7" for a in args]  # another goal: the saved state is not for it
    line = one_line_error(run_cli(*other, "--out", out, "--resume"))
    assert str(state) in line and "goal 0.7 (saved: 0.5)" in line and not out.exists()
    fresh = one_line_error(run_cli(*args, "--out", tmp_path / "never-started.safetensors", "--resume"))
    assert "--resume: no saved fine-tuning state" in fresh
    resumed = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args, "--out", str(out), "--resume", "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["finetune"]["resumed_from"] >= 1 and len(report["finetune"]["epochs"]) == 3
    assert not state.exists()

    straight = tmp_path / "straight.safetensors"
    subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args, "--out", str(straight)], env=env, check=True, capture_output=True
    )
    a, b = load_model(out), load_model(straight)
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def test_state_dict_pruned_by_another_tool_loads_by_its_shapes(tmp_path, real_batch):
    """torch-pruning users save a bare state_dict; its shapes are the spec."""
    import torch_pruning as tp

    original = load_model(CHECKPOINTS / "resnet18_cifar10.pth")
    model = original.model
    pruner = tp.pruner.BasePruner(
        model,
        torch.zeros(1, 3, 32, 32),
        tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=0.4,
        ignored_layers=[model.fc],
    )
    pruner.step()
    torch.save({"state_dict": model.state_dict()}, tmp_path / "theirs.pth")
    back = load_model(tmp_path / "theirs.pth")
    assert back.spec.name == "resnet18_pruned" and back.card.num_classes == 10
    x = torch.from_numpy(real_batch)
    with torch.inference_mode():
        torch.testing.assert_close(back.model(x), model(x))
