"""ExecuTorch as a third format: .pte export lowered to XNNPACK with the card inside, its runtime in eval and
bench, the thread pool it shares per process, and the errors a user meets."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeres.errors import EdgeresError, ExportError
from edgeres.export import export_model
from edgeres.export.pte import lower_to_pte
from edgeres.models import load_model
from edgeres.options import RuntimeOptions
from edgeres.predict import open_predictor
from edgeres.quantize.check import SQNR_CAP_DB

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli

pytest.importorskip("executorch")
MODELS = ("resnet20-12fca82f.th", "resnet18_cifar10.pth")
SUBSET = "500"


@pytest.fixture(scope="module")
def pte_files(tmp_path_factory) -> dict[str, object]:
    """Two shared checkpoints as fp32 .pte, verified on 64 real test images."""
    folder = tmp_path_factory.mktemp("pte")
    out = {}
    for name in MODELS:
        path = folder / f"{name.split('.')[0]}.pte"
        out[name] = export_model(CHECKPOINTS / name, path, verify_data=CIFAR / "test", verify_limit=64)
    return out


def _top1(path) -> float:
    result = run_cli("eval", path, "--data", CIFAR / "test", "--limit", SUBSET, "--json")
    assert result.exit_code == 0, result.stderr
    return float(json.loads(result.stdout)["top1"])


@pytest.mark.shared
@pytest.mark.parametrize("name", MODELS)
def test_pte_files_carry_their_card_and_score_as_pytorch(pte_files, name):
    result = pte_files[name]
    check = result.verification
    assert check.passed and check.n == 64 and check.top1_agreement == 1.0 and check.relative_diff <= 1e-4
    predictor = open_predictor(result.path)
    assert predictor.card == load_model(CHECKPOINTS / name).card
    assert (predictor.io.format, predictor.io.batch, predictor.io.layout) == ("pte", 1, "nchw")
    predictor.close()
    assert _top1(result.path) == _top1(CHECKPOINTS / name)


@pytest.mark.shared
def test_pte_bench_honours_threads_and_the_pool_is_shared_safely(pte_files, tmp_path):
    from executorch.extension.pybindings import portable_lib

    path = pte_files[MODELS[0]].path
    one = open_predictor(path, options=RuntimeOptions(threads=1))
    assert portable_lib._threadpool_get_thread_count() == 1
    with pytest.raises(EdgeresError, match="one per process and runs 1 thread"):
        open_predictor(path, options=RuntimeOptions(threads=2))  # resizing under an open program crashed the process
    one.close()
    two = open_predictor(path, options=RuntimeOptions(threads=2))
    assert portable_lib._threadpool_get_thread_count() == 2
    two.close()
    record = tmp_path / "bench.json"
    result = run_cli("bench", path, "--threads", "1", "--min-runs", "20", "--min-seconds", "0", "--json", record)
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(record.read_text())["entries"]
    assert entry["runtime"] == "executorch" and json.loads(record.read_text())["config"]["threads"] == 1


@pytest.mark.parametrize(
    "flags, says",
    [(["--batch", "dynamic"], "fixed batch"), (["--fp16"], "--fp16 is not offered for .pte")],
)
def test_pte_options_that_do_not_apply_are_errors(tmp_path, flags, says):
    out = tmp_path / "m.pte"
    line = one_line_error(run_cli("export", CHECKPOINTS / MODELS[0], "--out", out, *flags))
    assert says in line and not out.exists()


@pytest.mark.shared
def test_damaged_pte_files_are_one_error(pte_files, tmp_path):
    truncated, junk = tmp_path / "truncated.pte", tmp_path / "junk.pte"
    truncated.write_bytes(pte_files[MODELS[0]].path.read_bytes()[:300_000])
    junk.write_bytes(b"not a program")
    for path in (truncated, junk):
        line = one_line_error(run_cli("eval", path, "--data", CIFAR / "test", "--limit", "10"))
        assert f"{path}: not a loadable ExecuTorch program" in line


@pytest.mark.shared
def test_int8_pte_from_a_checkpoint_agrees_with_float_and_says_how_it_was_made(tmp_path):
    """ExecuTorch's XNNPACK quantizer through PT2E, gated on real images (full split: 98.6% agreement, -0.08 pp)."""
    out = tmp_path / "int8.pte"
    result = run_cli(
        "quantize", CHECKPOINTS / MODELS[0], "--out", out, "--calib", CIFAR / "train", "--num", "64",
        "--optimize", "none", "--eval", CIFAR / "test", "--eval-limit", "300", "--max-drop", "2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["recipe"]["name"] == "XnnpackPt2eInt8" and report["recipe"]["method"] == "histogram"
    assert set(report["engines"]) == {"executorch", "torchao", "torch"}
    assert report["accuracy"]["agreement"] >= 0.95 and report["held_out_check"]["agreement"] >= 0.95
    assert report["files"]["int8_bytes"] < 0.4 * report["files"]["fp32_bytes"]
    predictor = open_predictor(out)
    assert predictor.io.precision == "int8" and predictor.card == load_model(CHECKPOINTS / MODELS[0]).card
    predictor.close()


@pytest.mark.shared
def test_pte_engine_keeps_excluded_layers_in_float_and_ranks_the_rest(tmp_path):
    from edgeres.quantize.calibration import calibration_set
    from edgeres.quantize.layers import select
    from edgeres.quantize.pte_engine import PteInt8Engine
    from edgeres.quantize.recipes import recipe_for
    from edgeres.runtimes.embedded import IoSpec

    loaded = load_model(CHECKPOINTS / MODELS[0])
    calib = calibration_set(CIFAR / "train", loaded.card, num=64)
    engine = PteInt8Engine(loaded.model, recipe_for("pte", "arm64"), calib, loaded.card, IoSpec("pte", batch=1))
    names = [layer.name for layer in engine.layers]
    assert names[0] == "conv1" and "layer1.0.conv2" in names and "layer3.2" in names and len(names) == 19 + 9 + 1
    kept = select(engine.layers, ["conv1", "layer3.2"])
    engine.quantize(tmp_path / "int8.pte", kept)

    def weight_source(key: str) -> str:
        node = next(n for n in engine.converted.graph.nodes if n.name == key)
        return str(node.args[1].target)

    floating = {layer.key for layer in kept if layer.op == "conv2d"}
    assert len(floating) == 3
    for layer in engine.layers:
        if layer.op == "conv2d":
            assert ("dequantize" in weight_source(layer.key)) == (layer.key not in floating), layer.name
    ranked = engine.sensitivity(tmp_path / "int8.pte", calib.inputs[:16])
    assert {layer.name for layer, _ in ranked} >= {"layer1.0.conv1", "linear"}
    scores = {layer.name: snr for layer, snr in ranked}
    assert scores.pop("conv1") == SQNR_CAP_DB  # float input, float weights: the float output exactly
    assert all(10 < snr < 100 for snr in scores.values())  # int8 that works (resnet20 here: 27-41 dB)


@pytest.mark.shared
def test_int8_pte_options_that_cannot_work_are_one_error(pte_files, tmp_path):
    out = tmp_path / "m.pte"
    cases = [
        ((pte_files[MODELS[0]].path,), "quantize the checkpoint instead"),
        ((CHECKPOINTS / MODELS[0], "--io", "int8"), "--io int8 is for tflite"),
        ((CHECKPOINTS / MODELS[0], "--method", "percentile"), "--method percentile is not offered by the pte engine"),
    ]
    for args, says in cases:
        line = one_line_error(run_cli("quantize", *args, "--out", out, "--calib", CIFAR / "train"))
        assert says in line and not out.exists()


class _ScaledStem(nn.Module):
    """A conv whose weights are computed at run time: XNNPACK takes constant weights only."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.conv.weight * x.mean(), self.conv.bias)


def test_a_layer_left_outside_xnnpack_is_an_error_naming_it():
    net = nn.Sequential()
    net.add_module("stem", _ScaledStem())
    net.add_module("pool", nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ExportError, match=r"not delegated to XNNPACK .*: stem \(convolution\)"):
        lower_to_pte(net.eval(), torch.zeros(1, 3, 8, 8), {})


def test_targets_check_lists_executorch_here_but_boards_do_not_get_it():
    from importlib.metadata import version

    from edgeres.runtimes.registry import board_suffixes

    out = run_cli("targets", "check", "local-cpu").stdout
    assert f"executorch      {version('executorch')}" in out
    assert "executorch" in next(line for line in out.splitlines() if line.strip().startswith("runtimes"))
    assert ".pte" not in board_suffixes()  # its Python bindings need torch: boards run .pte with ExecuTorch's C++
