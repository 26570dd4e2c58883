"""Messages a user can trust (issue 32): names with control characters cannot forge a line, an empty class
folder is said, and torch's internal deprecation notes stay off stderr."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli

pytestmark = pytest.mark.shared
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"


def _labeled(tmp_path, per_class: int = 3):
    """A small labeled copy of the CIFAR-10 test set (three images per class)."""
    root = tmp_path / "data"
    for folder in sorted((CIFAR / "test").iterdir()):
        (root / folder.name).mkdir(parents=True)
        for image in sorted(folder.iterdir())[:per_class]:
            shutil.copy(image, root / folder.name / image.name)
    return root


def test_a_file_name_cannot_forge_an_error_line(tmp_path):
    data = _labeled(tmp_path)
    (data / "cat" / "evil\nerror: fake.jpg").write_bytes(b"not an image")
    result = run_cli("eval", RESNET20, "--data", data)
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith("error:")]
    assert any(line.startswith("warning: ") and "evil\\nerror: fake.jpg" in line for line in lines)


def test_an_empty_class_folder_is_a_warning_naming_it(tmp_path):
    data = _labeled(tmp_path)
    for image in (data / "frog").iterdir():
        image.unlink()
    result = run_cli("eval", RESNET20, "--data", data)
    assert result.exit_code == 0, result.stderr
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert any("class folder(s) hold no images (frog)" in line for line in warned)
    assert "on 27 images" in result.stdout


def test_pte_export_keeps_torchs_internal_notes_off_stderr(tmp_path):
    """In a fresh process: torch logs the note once, when ExecuTorch's libraries are first imported. A CIFAR
    ResNet with one narrow block per stage keeps the export quick."""
    import torch

    from edgeres.card import ModelCard
    from edgeres.models import ArchSpec, build_model, save_model

    spec = ArchSpec("cifar", "basic", (1, 1, 1), 10, (8, 16, 32), "A")
    card = ModelCard("resnet8", 10, (32, 32), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    torch.manual_seed(0)
    model = save_model(build_model(spec), spec, card, tmp_path / "resnet8.safetensors")
    command = [sys.executable, "-c", "from edgeres.cli import main; main()", "export", str(model)]
    result = subprocess.run([*command, "--out", str(tmp_path / "m.pte")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "register_constant" not in result.stderr


def test_a_runtimes_multi_line_diagnostic_becomes_its_useful_line(tmp_path, exported):
    """An ONNX graph with an operator no runtime knows: OpenVINO's and onnxruntime's multi-line reports become
    one line naming the file and the operator."""
    import onnx
    from onnx import TensorProto, helper

    card = onnx.load(str(exported("resnet20-12fca82f.th", "onnx"))).metadata_props
    graph = helper.make_graph(
        [helper.make_node("FrobnicateOp", ["x"], ["logits"])],
        "frobnicate",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.metadata_props.extend(card)
    path = tmp_path / "frobnicate.onnx"
    onnx.save(model, str(path))
    for runtime in ("openvino", "ort"):
        result = run_cli("bench", path, "--runtime", runtime, "--min-runs", "5")
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "frobnicate.onnx" in lines[0] and "FrobnicateOp" in lines[0] and "\\n" not in lines[0]


def test_a_truncated_resume_state_is_one_line(tmp_path):
    out = tmp_path / "pruned.safetensors"
    out.with_name(out.name + ".finetune.pt").write_bytes(b"PK\x03\x04 truncated")
    args = ["prune", RESNET20, "--target-macs", "0.5", "--finetune", CIFAR / "train", "--out", out, "--resume"]
    result = run_cli(*args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1, result.stderr
    assert "unreadable training state (truncated or damaged)" in lines[0] and "weights_only" not in lines[0]


def test_a_model_file_under_another_formats_suffix_is_named_as_what_it_is(tmp_path, exported, resnet20_files):
    pte, onnx_file = exported("resnet20-12fca82f.th", "pte"), resnet20_files["fp32.onnx"]
    for source, fake, real in ((pte, "model.onnx", "model.pte"), (onnx_file, "model.tflite", "model.onnx")):
        disguised = tmp_path / fake
        disguised.write_bytes(source.read_bytes())
        line = one_line_error(run_cli("eval", disguised, "--data", CIFAR / "test", "--limit", "10"))
        assert fake in line and f"rename it to {real}" in line


def test_an_error_about_a_file_that_is_no_model_never_echoes_its_bytes(tmp_path):
    """A checkpoint name may link to a file the user cannot otherwise read: a message says what kind of bytes it
    holds, never the bytes (the hex of its first four, or offsets a flatbuffer parser read from them)."""
    secret = tmp_path / "private" / "key"
    secret.parent.mkdir()
    secret.write_bytes(b"zq9x:$6$hunter2secret\n")
    leaked = ("zq9x", "hunter2", "7a 71 39 78", str(int.from_bytes(b"zq9x", "little")))
    data = _labeled(tmp_path, per_class=1)
    for name, command in (("link.pt", "inspect"), ("link.th", "eval"), ("link.tflite", "eval")):
        link = tmp_path / name
        link.symlink_to(secret)
        args = (command, link) if command == "inspect" else (command, link, "--data", data)
        line = one_line_error(run_cli(*args))
        assert name in line and "text" in line and not any(part in line for part in leaked), line
    readable = tmp_path / "resnet20.th"
    readable.symlink_to(RESNET20)  # a link to a real checkpoint stays as readable as the file
    assert run_cli("inspect", readable).exit_code == 0
