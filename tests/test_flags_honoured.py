"""A flag is honoured as written or refused: each option that used to be silently ignored or rewritten is now an
error line, or what was done instead is said in the terminal."""

from __future__ import annotations

import json

import pytest

from edgeres.pipeline import ConfigError, load_config

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli

RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"
pytestmark = pytest.mark.shared


def test_a_key_the_file_does_not_hold_is_an_error(tmp_path):
    line = one_line_error(run_cli("inspect", RESNET20, "--key", "ema_model"))
    assert "--key ema_model is neither a dict key nor a model's parameter prefix" in line
    assert run_cli("inspect", RESNET20, "--key", "module", "--json").exit_code == 0  # a real prefix still works


def test_verification_flags_with_no_verify_are_refused_before_any_work(tmp_path):
    out = tmp_path / "m.onnx"
    line = one_line_error(run_cli("export", RESNET20, "--out", out, "--no-verify", "--verify-data", CIFAR / "test"))
    assert "--verify-data" in line and "--no-verify" in line and not out.exists()
    line = one_line_error(run_cli("export", RESNET20, "--out", out, "--no-verify", "--verify-limit", "8"))
    assert "--verify-limit" in line and not out.exists()


@pytest.mark.parametrize("command", ["quantize", "prune"])
def test_an_eval_limit_without_eval_data_is_refused(tmp_path, command):
    out = tmp_path / ("m.onnx" if command == "quantize" else "m.safetensors")
    goal = ("--calib", CIFAR / "train") if command == "quantize" else ("--target-macs", "0.5")
    line = one_line_error(run_cli(command, RESNET20, *goal, "--out", out, "--eval-limit", "100"))
    assert "--eval-limit applies to --eval" in line and not out.exists()


def test_a_mac_target_that_needs_other_ranking_says_so_in_the_terminal(tmp_path):
    out = tmp_path / "m.safetensors"
    result = run_cli("prune", RESNET20, "--target-macs", "0.999999", "--out", out)
    assert result.exit_code == 0 and out.exists()
    assert "warning: to keep 100% of the MACs, pruning ranked channels across layers (--global)" in result.stderr
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    kept = report["after"]["macs"] / report["before"]["macs"]
    said = "of the MACs for --target-macs 0.999999" in result.stderr
    assert said == (abs(kept - 0.999999) > 0.01)  # more than 1 point off is said, with what was kept
    line = one_line_error(run_cli("prune", RESNET20, "--target-macs", "0.5", "--out", tmp_path / "m.onnx"))
    assert "m.onnx" in line and ".safetensors" in line and not (tmp_path / "m.onnx").exists()


def test_a_pipeline_with_two_pruning_goals_is_refused(tmp_path):
    config = tmp_path / "p.toml"
    config.write_text(
        f'[model]\ncheckpoint = "{RESNET20}"\n'
        f'[data]\ncalibration = "{CIFAR / "train"}"\nevaluation = "{CIFAR / "test"}"\n'
        "[prune]\nenabled = true\ntarget_macs = 0.5\ntarget_latency = 0.7\n"
    )
    with pytest.raises(ConfigError, match=r"target_macs and target_latency are two goals"):
        load_config(config)
