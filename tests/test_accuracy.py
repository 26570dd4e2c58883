"""The shared checkpoints load with no --arch and score like their reference top-1 (full split: benchmarks/)."""

from __future__ import annotations

import json

import pytest

from .conftest import CHECKPOINTS, CIFAR, SHARED_CKPTS, run_cli

pytestmark = pytest.mark.shared


SUBSET = 2000  # the full split is benchmarks/fp32_accuracy.py's job (docs/benchmarks.md)


@pytest.mark.parametrize("name", sorted(SHARED_CKPTS))
def test_test_subset_top1_tracks_the_reference(name):
    result = run_cli("eval", CHECKPOINTS / name, "--data", CIFAR / "test", "--limit", SUBSET, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == SUBSET and report["skipped"] == 0
    assert report["top1"] == pytest.approx(SHARED_CKPTS[name][1], abs=0.03)  # a stratified 20%: resnet32 0.8055
    assert report["top5"] > report["top1"]


def test_limit_is_a_stratified_deterministic_subset():
    args = (
        "eval",
        CHECKPOINTS / "resnet20-12fca82f.th",
        "--data",
        CIFAR / "test",
        "--limit",
        "500",
        "--json",
    )
    first, second = json.loads(run_cli(*args).stdout), json.loads(run_cli(*args).stdout)
    assert first["n"] == 500 and first == {**second, "seconds": first["seconds"]}
    assert 0.75 < first["top1"] < 0.87


def test_human_output_names_model_and_score():
    result = run_cli("eval", CHECKPOINTS / "resnet32-d509ac18.th", "--data", CIFAR / "test", "--limit", "100")
    assert result.exit_code == 0 and "top-1 0." in result.stdout and "100 images" in result.stdout
