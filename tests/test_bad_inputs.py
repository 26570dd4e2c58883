"""One test per bad input: a one-line message naming the file and the fix, a non-zero exit, nothing lost."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
import torch
from PIL import Image

from edgeres.data import decode_image
from edgeres.errors import BadImageError

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli

pytestmark = pytest.mark.shared
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"


def _state_dict() -> dict[str, torch.Tensor]:
    return torch.load(RESNET20, weights_only=True, map_location="cpu")["state_dict"]  # saved on a GPU


def _class_folder(root: Path, per_class: int = 3) -> Path:
    """A small ImageFolder copy of real CIFAR-10 test JPEGs."""
    for class_dir in sorted((CIFAR / "test").iterdir()):
        target = root / class_dir.name
        target.mkdir(parents=True)
        for jpg in sorted(class_dir.iterdir())[:per_class]:
            shutil.copy(jpg, target / jpg.name)
    return root


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_mode}|{stat.st_mtime_ns}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _png_bomb(path: Path, side: int = 12_000) -> None:
    """A real, valid PNG of side x side gray pixels (144 MP) that compresses to ~150 KB."""
    compressor, row = zlib.compressobj(9), b"\x00" * (side + 1)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# --- checkpoints -------------------------------------------------------------------------------------------


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "truncated.th"
    path.write_bytes(RESNET20.read_bytes()[: RESNET20.stat().st_size // 2])
    line = one_line_error(run_cli("inspect", path))
    assert str(path) in line and "truncated" in line


def test_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("this is a text file, not weights\n")
    line = one_line_error(run_cli("eval", path, "--data", CIFAR / "test"))
    assert str(path) in line and "not a PyTorch checkpoint" in line


def test_empty_checkpoint(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "empty" in one_line_error(run_cli("inspect", tmp_path / "empty.pt"))


def test_wrong_arch():
    line = one_line_error(run_cli("inspect", RESNET20, "--arch", "resnet18"))
    assert "do not fit resnet18" in line and "missing" in line and "--arch" in line


def test_unknown_arch_lists_known_names():
    line = one_line_error(run_cli("inspect", RESNET20, "--arch", "resnet19"))
    assert "unknown architecture 'resnet19'" in line and "cifar_resnet20" in line


def test_wrong_num_classes():
    line = one_line_error(run_cli("inspect", RESNET20, "--num-classes", "100"))
    assert "10 outputs" in line and "--num-classes is 100" in line


def test_nan_weights(tmp_path):
    sd = _state_dict()
    sd["module.layer2.1.conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save({"state_dict": sd}, tmp_path / "nan.th")
    line = one_line_error(run_cli("inspect", tmp_path / "nan.th"))
    assert "layer2.1.conv1.weight" in line and "NaN" in line


def test_shape_mismatch_names_the_key(tmp_path):
    sd = _state_dict()
    sd["module.layer3.0.conv2.weight"] = torch.zeros(64, 64, 1, 1)
    torch.save({"state_dict": sd}, tmp_path / "bad_shape.th")
    line = one_line_error(run_cli("inspect", tmp_path / "bad_shape.th"))
    assert "layer3.0.conv2.weight" in line and "shape mismatch" in line


def test_two_models_in_one_file_is_ambiguous(tmp_path):
    sd = {k.removeprefix("module."): v for k, v in _state_dict().items()}
    both = {**{"model." + k: v for k, v in sd.items()}, **{"model_ema." + k: v for k, v in sd.items()}}
    torch.save({"state_dict": both}, tmp_path / "ema.ckpt")
    line = one_line_error(run_cli("inspect", tmp_path / "ema.ckpt"))
    assert "model, model_ema" in line and "--key" in line
    assert run_cli("inspect", tmp_path / "ema.ckpt", "--key", "model_ema", "--json").exit_code == 0


def test_pickled_module_without_trust(tmp_path):
    from edgeres.models import load_model

    torch.save(load_model(RESNET20).model, tmp_path / "full.pt")
    line = one_line_error(run_cli("inspect", tmp_path / "full.pt"))
    assert "edgeres.models.cifar_resnet.CifarResNet" in line and "--trust" in line
    assert run_cli("inspect", tmp_path / "full.pt", "--trust", "--json").exit_code == 0


class _Payload:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_code_in_checkpoint_never_runs_without_trust(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": _state_dict(), "extra": _Payload(marker)}, path)
    line = one_line_error(run_cli("inspect", path))
    assert "builtins.exec" in line and "--trust" in line
    assert not marker.exists()
    run_cli("inspect", path, "--trust", "--json")  # positive control: the payload is real
    assert marker.read_text() == "pwned"


def test_code_in_a_plain_pickle_is_named_and_never_runs(tmp_path):
    """`pickle.dump` (protocol 4+) stops torch's safe loader at its first opcode: the globals it would import
    are still named (read, never run), one line, without torch's protocol warning on stderr."""
    import pickle

    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": _state_dict(), "extra": _Payload(marker)}, protocol=4))
    result = run_cli("inspect", path)
    line = one_line_error(result)
    assert "builtins.exec" in line and "--trust" in line and "torch._utils" not in line and not marker.exists()
    (tmp_path / "plain.pth").write_bytes(pickle.dumps({"epoch": 3}, protocol=5))
    line = one_line_error(run_cli("inspect", tmp_path / "plain.pth"))
    assert "written by Python's pickle" in line and "torch.save" in line


# --- data --------------------------------------------------------------------------------------------------


def test_empty_data_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    line = one_line_error(run_cli("eval", RESNET20, "--data", tmp_path / "empty"))
    assert "empty" in line and str(tmp_path / "empty") in line


def test_class_folders_without_files(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / "data" / name).mkdir(parents=True)
    assert "hold no files" in one_line_error(run_cli("eval", RESNET20, "--data", tmp_path / "data"))


def test_a_folder_of_links_to_images_elsewhere_says_why_it_reads_as_empty(tmp_path):
    """Links out of a data folder are not followed; when they are all it holds, the error says so (not "add
    images"), for class folders and a flat folder alike."""
    elsewhere = _class_folder(tmp_path / "elsewhere")
    for name in ("cat", "dog"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for image in (elsewhere / name).iterdir():
            (tmp_path / "data" / name / image.name).symlink_to(image)
        (tmp_path / "flat" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "flat" / f"{name}.jpg").symlink_to(next((elsewhere / name).iterdir()))
    for folder in ("data", "flat"):
        line = one_line_error(run_cli("eval", RESNET20, "--data", tmp_path / folder))
        assert "link(s) out of the folder, not followed" in line and str(elsewhere) in line and "add images" not in line


def test_missing_data_path(tmp_path):
    assert "no such file" in one_line_error(run_cli("eval", RESNET20, "--data", tmp_path / "nope"))


def test_corrupt_jpeg_among_good_ones_is_skipped_and_counted(tmp_path):
    data = _class_folder(tmp_path / "data")
    good = next((data / "cat").iterdir())
    (data / "cat" / "broken.jpg").write_bytes(good.read_bytes()[:200])
    (data / "dog" / "README.txt").write_text("not an image")
    before = _tree_digest(data)
    result = run_cli("eval", RESNET20, "--data", data, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["n"] == 30 and json.loads(result.stdout)["skipped"] == 2
    assert "2 unreadable image(s) skipped" in result.stderr and "broken.jpg" in result.stderr
    strict = one_line_error(run_cli("eval", RESNET20, "--data", data, "--strict"))
    assert "--strict" in strict
    assert _tree_digest(data) == before  # reading never modifies the data folder


def test_cmyk_and_grayscale_images_are_converted(tmp_path):
    data = _class_folder(tmp_path / "data", per_class=2)
    for index, jpg in enumerate(sorted(data.rglob("*.jpg"))):
        image = Image.open(jpg)
        image.convert("CMYK" if index % 2 else "L").save(jpg, quality=95)
    modes = {Image.open(p).mode for p in data.rglob("*.jpg")}
    assert modes == {"CMYK", "L"}
    for path in data.rglob("*.jpg"):
        array = decode_image(path, str(path))
        assert array.shape == (32, 32, 3) and array.dtype.name == "uint8"
    result = run_cli("eval", RESNET20, "--data", data, "--json", "--strict")
    assert result.exit_code == 0 and json.loads(result.stdout)["n"] == 20


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    data = _class_folder(tmp_path / "data", per_class=1)
    _png_bomb(data / "cat" / "bomb.png")
    assert (data / "cat" / "bomb.png").stat().st_size < 1_000_000
    with pytest.raises(BadImageError, match="decompression bomb"):
        decode_image(data / "cat" / "bomb.png", "bomb.png")
    result = run_cli("eval", RESNET20, "--data", data, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["skipped"] == 1
    assert "decompression bomb" in result.stderr
    line = one_line_error(run_cli("eval", RESNET20, "--data", data, "--strict"))
    assert "bomb.png" in line and "--max-pixels" in line


def test_unlabeled_folder_cannot_be_evaluated(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for jpg in sorted((CIFAR / "test" / "cat").iterdir())[:3]:
        shutil.copy(jpg, flat / jpg.name)
    assert "has no labels" in one_line_error(run_cli("eval", RESNET20, "--data", flat))


def test_data_with_other_classes_than_the_model(tmp_path):
    data = tmp_path / "data"
    for name in ("a", "b", "c"):
        (data / name).mkdir(parents=True)
        shutil.copy(next((CIFAR / "test" / "cat").iterdir()), data / name / "x.jpg")
    line = one_line_error(run_cli("eval", RESNET20, "--data", data))
    assert "3 classes" in line and "10 outputs" in line
