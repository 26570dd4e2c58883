"""`edgeres deploy --prune`: latency-pruned variants (apart from test_deploy.py, so the two spread over the
test workers)."""

from __future__ import annotations

import json

import pytest

from .conftest import CIFAR, run_cli


@pytest.mark.shared
def test_deploy_prune_adds_latency_pruned_variants_timed_in_the_fastest_deployment(tmp_path, config_dir):
    """A CIFAR ResNet with one block per stage (32/64/128 channels, random weights): its latency tables are
    quick to time. Agreement with the unpruned model is the bound (random weights: --max-drop 100). A local
    profile that times files in onnxruntime only keeps the candidates few."""
    import torch

    from edgeres.card import ModelCard
    from edgeres.models import ArchSpec, build_model, load_model, save_model

    spec = ArchSpec("cifar", "basic", (1, 1, 1), 10, (32, 64, 128), "A")
    card = ModelCard("resnet8", 10, (32, 32), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    torch.manual_seed(0)
    model = save_model(build_model(spec), spec, card, tmp_path / "resnet8.safetensors")
    (config_dir / "ort-here.toml").write_text('name = "ort-here"\nbench_runtimes = ["ort"]\n')
    out = tmp_path / "deployed"
    args = ["deploy", model, "--calib", CIFAR / "train", "--out", out, "--formats", "onnx", "--num", "64"]
    args += ["--target", "ort-here"]
    result = run_cli(*args, "--optimize", "none", "--prune", "0.95", "--round-to", "64", "--max-drop", "100")
    assert result.exit_code == 0, result.stderr
    rows = json.loads((out / "report.json").read_text())
    unpruned = [r for r in rows["candidates"] if "/" not in r["file"]]
    assert {r["runtime"] for r in rows["candidates"]} == {"ort"}  # the profile's bench_runtimes honoured
    pruned = out / "candidates" / "pruned-0.95" / "model.safetensors"
    if not pruned.exists():  # a CPU where channel multiples of 64 cannot save 5% (per-call overhead): said
        note = next(n for n in rows["left_out"] if n.startswith("pruned to 0.95: "))
        assert "could not prune to 95%" in note and "--target-latency of" in note
        return
    variant = [r for r in rows["candidates"] if r["file"].startswith("pruned-0.95/")]
    assert {(r["precision"], r["runtime"]) for r in variant} == {(r["precision"], r["runtime"]) for r in unpruned}
    assert load_model(pruned).spec != spec
    fastest = min((r for r in unpruned if r["precision"] == "int8"), key=lambda r: r["p50_ms"])
    plan = json.loads(pruned.with_name(pruned.name + ".report.json").read_text())["latency_plan"]
    assert plan["setting"].startswith(f"{fastest['format']} int8 (")  # timed as the screen's fastest int8 file
    assert plan["rounding"]["multiple"] == 64  # --round-to honoured
