"""Whole residual blocks removed for a latency target: which can go, the shallower file, and the choice.

The end-to-end test runs a real prune on this machine (networks exported, quantized and timed in onnxruntime)
with channel multiples too coarse for any width to change, so that only removing blocks can reach the target.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

from edgeres.card import ModelCard
from edgeres.models import ArchSpec, LoadedModel, build_model, load_model, save_model
from edgeres.models.registry import spec_from_name
from edgeres.prune.depth import Block, block_sensitivity, drop_blocks, droppable_blocks, most_per_stage
from edgeres.prune.latency_depth import DEPTH_MARGIN, pick_blocks
from edgeres.report.tables import latency_plan_note

from .conftest import CIFAR, one_line_error, run_cli

CARD = ModelCard("resnet20", 10, (32, 32), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def _resnet20() -> LoadedModel:
    spec = ArchSpec("cifar", "basic", (3, 3, 3), 10, (16, 32, 64), "A")
    torch.manual_seed(0)
    return LoadedModel(build_model(spec).eval(), CARD, spec)


def test_only_blocks_that_keep_their_input_shape_can_go():
    loaded = _resnet20()
    assert [b.name for b in droppable_blocks(loaded)] == [f"layer{s}.{i}" for s in (1, 2, 3) for i in (1, 2)]
    assert most_per_stage(loaded) == {"layer1": 1, "layer2": 1, "layer3": 1}
    spec = spec_from_name("resnet18", 10)
    torchvision = LoadedModel(build_model(spec).eval(), CARD.replace(input_size=(64, 64)), spec)
    # every stage's first block changes stride or width but layer1's: still never removed (index 0)
    assert [b.name for b in droppable_blocks(torchvision)] == ["layer1.1", "layer2.1", "layer3.1", "layer4.1"]


def test_a_shallower_model_saves_and_loads_with_the_same_outputs(tmp_path):
    loaded = _resnet20()
    gone = [Block("layer1", 1), Block("layer3", 2)]
    shallow = drop_blocks(loaded, gone)
    assert shallow.spec.layers == (2, 3, 2) and loaded.spec.layers == (3, 3, 3)  # the input is not changed
    expected = copy.deepcopy(loaded.model)
    for block in gone:
        getattr(expected, block.stage)[block.index] = torch.nn.Identity()
    path = save_model(shallow.model, shallow.spec, shallow.card, tmp_path / "shallow.safetensors")
    again = load_model(path)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(again.model.eval()(x), expected.eval()(x))
    assert again.spec.layers == (2, 3, 2)


def test_a_block_that_adds_nothing_costs_nothing_to_remove():
    loaded = _resnet20()
    silent = loaded.model.layer2[1]
    torch.nn.init.zeros_(silent.bn2.weight)
    torch.nn.init.zeros_(silent.bn2.bias)  # its residual branch is now zero: x + 0
    images = torch.randn(32, 3, 32, 32)
    sensitivity = block_sensitivity(loaded, images, droppable_blocks(loaded))
    assert sensitivity["layer2.1"] < 1e-9
    assert min(v for k, v in sensitivity.items() if k != "layer2.1") > 1e-6
    assert loaded.model.layer2[1] is silent  # the model itself is left whole


def test_blocks_are_picked_by_time_saved_per_divergence_until_the_need_is_covered():
    blocks = [Block(s, i) for s in ("layer1", "layer2", "layer3") for i in (1, 2, 3)]
    sensitivity = {b.name: 1.0 for b in blocks} | {"layer1.3": 0.1, "layer2.2": 0.2, "layer3.1": 0.05}
    savings = {"layer1": {"int8": 0.07, "fp32": 0.05}, "layer2": {"int8": 0.06, "fp32": 0.06}}
    savings["layer3"] = {"int8": -0.01, "fp32": 0.08}  # no int8 saving: never picked for an int8 need
    most = {"layer1": 1, "layer2": 2, "layer3": 1}
    picked = pick_blocks(blocks, sensitivity, savings, {"int8": 0.1}, most)
    assert [b.name for b in picked] == ["layer1.3", "layer2.2"]  # 0.13 >= 0.1 x DEPTH_MARGIN
    assert 0.1 * DEPTH_MARGIN <= 0.13
    more = pick_blocks(blocks, sensitivity, savings, {"int8": 0.3}, most)  # out of blocks: at most per stage
    assert [b.name for b in more] == ["layer1.3", "layer2.2", "layer2.1"]


def test_keep_depth_applies_to_latency_targets_only(tmp_path):
    model = save_model(_resnet20().model, _resnet20().spec, CARD, tmp_path / "m.safetensors")
    line = one_line_error(run_cli("prune", model, "--out", tmp_path / "out.safetensors", "--ratio", "0.5",
                                  "--keep-depth"))  # fmt: skip
    assert "--keep-depth applies to --target-latency only" in line


@pytest.mark.timing
@pytest.mark.shared
def test_blocks_are_removed_when_no_width_can_reach_the_target(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGERES_CACHE_DIR", str(tmp_path / "cache"))
    loaded = _resnet20()
    model = save_model(loaded.model, loaded.spec, CARD, tmp_path / "resnet20.safetensors")
    args = ["--target-latency", "0.85", "--round-to", "128", "--data", str(CIFAR / "train"), "--json"]
    # channel multiples of 128: no width of these 16-64 channel layers can change
    kept = run_cli("prune", model, "--out", tmp_path / "kept.safetensors", *args, "--keep-depth")
    assert "could not prune to 85%" in one_line_error(kept) and not (tmp_path / "kept.safetensors").exists()
    result = run_cli("prune", model, "--out", tmp_path / "out.safetensors", *args)
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)["latency_plan"]
    removed = plan["depth"]["removed"]
    assert removed and len(removed) <= 3 and all(b.split(".")[1] != "0" for b in removed)
    kept_round = plan["rounds"][plan["chosen_round"] - 1]
    ratio = kept_round["int8"]["measured_ms"]["ratio"]  # measured side by side, one run
    assert ratio < 1.0
    assert ratio <= 0.85 * 1.01 or plan["warning"]  # on target, or said loudly
    shallow = load_model(tmp_path / "out.safetensors")
    assert sum(shallow.spec.layers) == 9 - len(removed)
    assert f"residual blocks removed: {', '.join(removed)}" in latency_plan_note(plan)


def test_blocks_removed_far_from_the_target_are_out_of_reach_and_near_it_a_warning():
    """One rule with or without images (issue 32): a shallower network far above the target is an error naming
    the smallest reachable --target-latency (a higher one), near it a warning, on it nothing."""
    from edgeres.latency.setting import LatencySetting
    from edgeres.prune.latency_depth import DepthChoice
    from edgeres.prune.latency_goal import LatencyTarget
    from edgeres.prune.latency_target import _depth_only_plan
    from edgeres.prune.width_search import OutOfReach

    def depth(ratio: float) -> DepthChoice:
        savings = {"layer1": {"int8": 0.1, "fp32": 0.1}}
        ms = {p: {"unpruned": 1.0, "pruned": ratio} for p in ("int8", "fp32")}
        return DepthChoice(["layer1.1"], {"layer1.1": 0.1}, savings, ms)

    goal = LatencyTarget(0.5, LatencySetting())
    with pytest.raises(OutOfReach, match=r"could not prune to 50%.*choose a --target-latency of 0\.72 or more"):
        _depth_only_plan(goal, depth(0.72), 8)
    near = _depth_only_plan(goal, depth(0.53), 8)
    assert "a --target-latency of 0.53 or more is within reach" in near.warning
    assert not _depth_only_plan(goal, depth(0.49), 8).warning
