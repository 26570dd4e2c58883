"""Export to ONNX and TFLite: embedded card, verification in the file's own runtime, exact accuracy, safety."""

from __future__ import annotations

import collections
import dataclasses
import json
import os

import numpy as np
import onnx
import pytest
import torch
from ai_edge_litert.interpreter import Interpreter

from edgeres.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from edgeres.errors import ExportError, OutputExistsError
from edgeres.export import ExportOptions, export_model
from edgeres.models import LoadedModel, load_model, spec_from_name
from edgeres.models.registry import build_model
from edgeres.predict import open_predictor
from edgeres.runtimes.tflite_metadata import read_metadata

from .conftest import CHECKPOINTS, CIFAR, SHARED_CKPTS, one_line_error, run_cli

RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"
FORMATS = ("onnx", "tflite")


def _op_counts(path) -> collections.Counter:
    return collections.Counter(op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details())


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[tuple[str, str], object]:
    """The three shared checkpoints in both formats, verified on 64 real test images."""
    folder = tmp_path_factory.mktemp("exported")
    results = {}
    for name in sorted(SHARED_CKPTS):
        for fmt in FORMATS:
            out = folder / f"{name.split('.')[0]}.{fmt}"
            results[name, fmt] = export_model(CHECKPOINTS / name, out, verify_data=CIFAR / "test", verify_limit=64)
    return results


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(SHARED_CKPTS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_shared_checkpoints_export_verified_with_card_embedded(exported, name, fmt):
    result = exported[name, fmt]
    check = result.verification
    assert check.passed and check.n == 64 and check.inputs.startswith("images:")
    assert check.top1_agreement == 1.0 and check.relative_diff <= 1e-3
    card = load_model(CHECKPOINTS / name).card
    if fmt == "onnx":
        model = onnx.load(str(result.path))
        props = {p.key: p.value for p in model.metadata_props}
        assert model.opset_import[0].version >= 18
        assert [i.name for i in model.graph.input] == ["input"] and [o.name for o in model.graph.output] == ["logits"]
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch
        assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
        assert not list(result.path.parent.glob(result.path.name + ".data"))
    else:
        props = read_metadata(result.path.read_bytes())
        assert Interpreter(model_path=str(result.path)).get_input_details()[0]["shape"].tolist() == [1, 32, 32, 3]
    assert ModelCard.from_dict(json.loads(props["edgeres.card"])) == card
    if card.labels:
        assert json.loads(props["labels"]) == list(card.labels)
    assert ModelCard.from_dict(json.loads(result.card_path.read_text())) == card
    report = json.loads(result.report_path.read_text())
    assert report["verification"]["passed"] and report["sha256"] and report["file_bytes"] == result.path.stat().st_size


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHARED_CKPTS))
def test_eval_of_exported_files_matches_checkpoint_top1(exported, name):
    args = ("--data", CIFAR / "test", "--limit", "2000", "--json")  # the same stratified 2000 images for all
    reference = json.loads(run_cli("eval", CHECKPOINTS / name, *args).stdout)["top1"]
    for fmt in FORMATS:
        result = run_cli("eval", exported[name, fmt].path, *args)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["top1"] == pytest.approx(reference, abs=0.0005)  # at most one image


@pytest.mark.shared
def test_option_a_shortcuts_give_a_clean_tflite_graph(exported, tmp_path):
    nhwc = _op_counts(exported["resnet20-12fca82f.th", "tflite"].path)
    assert nhwc["TRANSPOSE"] == 0 and nhwc["CONV_2D"] == 19 and nhwc["ADD"] == 9
    assert not {"QUANTIZE", "DEQUANTIZE", "GATHER", "CONCATENATION"} & set(nhwc)
    nchw = export_model(RESNET20, tmp_path / "nchw.tflite", options=ExportOptions(layout="nchw"))
    assert _op_counts(nchw.path)["TRANSPOSE"] <= 1


@pytest.mark.slow
# Basic blocks and bottlenecks, grouped (resnext50_32x4d: resnet50's bottleneck with grouped 3x3 convs, the
# harder case for converters; wide_resnet50_2 is resnet50's graph with wider layers). The bottleneck model has
# one block per stage: the same operators and shapes as resnext50_32x4d in a quarter of the export time (the
# full depths, resnet50's included, are exported by benchmarks/export_size_time.py).
@pytest.mark.parametrize("arch", ["resnet18", "resnext50_32x4d"])
def test_random_torchvision_models_at_224_export_and_verify(arch, tmp_path):
    torch.manual_seed(0)
    spec = spec_from_name(arch, 7)
    if spec.block == "bottleneck":
        spec = dataclasses.replace(spec, layers=(1, 1, 1, 1))
    model = build_model(spec).eval()
    card = ModelCard(arch, 7, (224, 224), IMAGENET_MEAN, IMAGENET_STD, resize=256)
    loaded = LoadedModel(model, card, spec)
    for fmt in FORMATS:
        result = export_model(loaded, tmp_path / f"{arch}.{fmt}")
        assert result.verification.passed and result.verification.inputs == "random", fmt
        assert result.verification.top1_agreement == 1.0
        result.path.unlink()  # large files: keep the disk use of the test small


@pytest.mark.shared
@pytest.mark.parametrize("fmt", FORMATS)
def test_fp16_halves_the_file_and_keeps_agreement(exported, fmt, tmp_path):
    result = export_model(
        RESNET20,
        tmp_path / f"half.{fmt}",
        options=ExportOptions(fp16=True),
        verify_data=CIFAR / "test",
        verify_limit=200,
    )
    assert result.verification.passed and result.verification.top1_agreement >= 0.995
    assert result.file_bytes < 0.6 * exported["resnet20-12fca82f.th", fmt].file_bytes
    assert open_predictor(result.path).io.precision == "float16"


@pytest.mark.shared
def test_layout_and_fixed_batch_options(tmp_path, real_batch):
    result = export_model(RESNET20, tmp_path / "b4.onnx", options=ExportOptions(layout="nhwc", batch=4))
    model = onnx.load(str(result.path))
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [4, 32, 32, 3]
    predictor = open_predictor(result.path)  # takes NCHW batches of any size, like every Predictor
    reference = load_model(RESNET20).model(torch.from_numpy(real_batch[:6])).detach().numpy()
    np.testing.assert_allclose(predictor.predict(real_batch[:6]), reference, atol=1e-4)


@pytest.mark.shared
def test_existing_output_is_kept_without_force(tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        export_model(RESNET20, out)
    line = one_line_error(run_cli("export", RESNET20, "--out", out))
    assert "--force" in line and out.read_bytes() == b"precious"
    assert run_cli("export", RESNET20, "--out", out, "--force", "--no-verify").exit_code == 0
    assert out.read_bytes()[:8] != b"precious"


@pytest.mark.shared
def test_format_and_suffix_must_agree(tmp_path):
    assert "must end in .onnx" in one_line_error(
        run_cli("export", RESNET20, "--out", tmp_path / "m.tflite", "--format", "onnx")
    )
    assert "cannot tell the format" in one_line_error(run_cli("export", RESNET20, "--out", tmp_path / "m.bin"))
    assert "TFLite files are exported with a fixed batch" in one_line_error(
        run_cli("export", RESNET20, "--out", tmp_path / "m.tflite", "--batch", "dynamic")
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.shared
def test_failed_verification_leaves_no_model_file(tmp_path):
    """float16 cannot hold weights this large: the export must notice and write nothing but its report."""
    loaded = load_model(RESNET20)
    with torch.no_grad():
        loaded.model.linear.weight.mul_(1e6)  # past float16 max (65504): weights become inf
    out = tmp_path / "overflow.tflite"
    with pytest.raises(ExportError, match="disagrees with PyTorch"):
        export_model(loaded, out, options=ExportOptions(fp16=True), verify_data=CIFAR / "test", verify_limit=32)
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
    assert json.loads((tmp_path / "overflow.tflite.report.json").read_text())["verification"]["passed"] is False


class _DataDependent(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.mean() > 0 else -x  # python control flow on values: not exportable


@pytest.mark.shared
def test_unsupported_layer_is_named(tmp_path):
    loaded = load_model(RESNET20)
    loaded.model.layer2 = _DataDependent()
    with pytest.raises(ExportError, match=r"layer2 \(_DataDependent\)"):
        export_model(loaded, tmp_path / "bad.onnx", options=ExportOptions(batch=1))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.shared
def test_damaged_exported_files_give_errors(exported, tmp_path):
    for fmt in FORMATS:
        blob = exported["resnet20-12fca82f.th", fmt].path.read_bytes()
        (tmp_path / f"cut.{fmt}").write_bytes(blob[: len(blob) // 3])
        line = one_line_error(run_cli("eval", tmp_path / f"cut.{fmt}", "--data", CIFAR / "test"))
        assert f"cut.{fmt}" in line and ("truncated" in line or "corrupted" in line)
    line = one_line_error(
        run_cli("eval", exported["resnet20-12fca82f.th", "onnx"].path, "--data", CIFAR / "test", "--arch", "resnet20")
    )
    assert "apply to checkpoints" in line
    for fmt in FORMATS:
        path = exported["resnet20-12fca82f.th", fmt].path
        line = one_line_error(run_cli("eval", path, "--data", CIFAR / "test", "--num-classes", "100"))
        assert "has 10 classes, --num-classes says 100" in line


def _with_external_tensor(source, target_dir, location: str):
    model = onnx.load(str(source))
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "4")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    path = target_dir / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.shared
@pytest.mark.parametrize("where", ["parent", "absolute", "symlink"])
def test_external_data_outside_the_model_folder_is_refused(exported, tmp_path, where):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x00" * 4096)
    folder = tmp_path / "models"
    folder.mkdir()
    location = {"parent": "../secret.bin", "absolute": str(secret), "symlink": "weights.bin"}[where]
    if where == "symlink":
        os.symlink(secret, folder / "weights.bin")
    path = _with_external_tensor(exported["resnet20-12fca82f.th", "onnx"].path, folder, location)
    line = one_line_error(run_cli("eval", path, "--data", CIFAR / "test"))
    assert "outside the model's folder" in line and "refused" in line


@pytest.mark.shared
def test_exported_input_size_cannot_be_overridden(exported):
    path = exported["resnet20-12fca82f.th", "tflite"].path
    line = one_line_error(run_cli("eval", path, "--data", CIFAR / "test", "--input-size", "64"))
    assert "takes 32x32 inputs" in line
    ok = run_cli("eval", path, "--data", CIFAR / "test", "--limit", "20", "--mean", "0.5,0.5,0.5", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["n"] == 20


@pytest.mark.shared
def test_export_cache_reuses_identical_exports_only(tmp_path, monkeypatch):
    """quantize reuses a verified export of the same weights; other weights, a broken cache folder or an
    evicted entry mean a fresh export, never a stale or failed one."""
    from edgeres.export import cache

    monkeypatch.setenv("EDGERES_CACHE_DIR", str(tmp_path / "cache"))
    loaded = load_model(RESNET20)
    first = cache.export_cached(loaded, tmp_path / "a.onnx", "onnx")
    assert (tmp_path / "a.onnx.report.json").is_file()  # a real export writes its verification report
    again = cache.export_cached(loaded, tmp_path / "b.onnx", "onnx")
    assert not (tmp_path / "b.onnx.report.json").exists()  # a hit is a copy of the cached file
    assert again.read_bytes() == first.read_bytes()
    with torch.no_grad():
        loaded.model.linear.bias[0] += 0.5
    changed = cache.export_cached(loaded, tmp_path / "c.onnx", "onnx")
    assert (tmp_path / "c.onnx.report.json").is_file()
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    outputs = [open_predictor(path).predict(x) for path in (first, changed)]
    np.testing.assert_allclose(outputs[1][:, 0] - outputs[0][:, 0], 0.5, atol=1e-4)
    assert len(list((tmp_path / "cache" / "exports").iterdir())) == 2
    monkeypatch.setattr(cache, "KEEP", 1)
    with torch.no_grad():
        loaded.model.linear.bias[0] -= 0.25
    cache.export_cached(loaded, tmp_path / "d.onnx", "onnx")
    assert len(list((tmp_path / "cache" / "exports").iterdir())) == 1  # the least recently used went
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv("EDGERES_CACHE_DIR", str(tmp_path / "blocked"))
    assert cache.export_cached(loaded, tmp_path / "e.onnx", "onnx").is_file()
