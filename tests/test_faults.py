"""Fault injection through the real CLI: each fault ends in one `error:` line naming the file or option, a
non-zero exit, and no output that looks valid but is not (no model without its card, no hidden temp file, no
scratch folder). The CLI runs in-process (click's runner) or, where the fault needs a process of its own (a
private tmpfs, a umask, a SIGKILL), as a separate one. Full and read-only disks are real tmpfs mounts in a
private mount namespace (`unshare`), skipped with a message where the machine does not allow them."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import CHECKPOINTS, CIFAR, ROOT, CliResult, run_cli

pytestmark = pytest.mark.shared
RESNET20 = CHECKPOINTS / "resnet20-12fca82f.th"
RESNET18 = CHECKPOINTS / "resnet18_cifar10.pth"  # its card names the CIFAR-10 classes
CLI = [sys.executable, "-c", "from edgeres.cli import main; main()"]


def edgeres(*args: object, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process, as a user runs it."""
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
    )


def error_line(result: CliResult | subprocess.CompletedProcess[str] | tuple[int, str]) -> str:
    """Exactly one non-empty stderr line, `error: ...`, a non-zero exit and no traceback; return the line."""
    if isinstance(result, tuple):
        code, stderr = result
    elif isinstance(result, CliResult):
        code, stderr = result.exit_code, result.stderr
    else:
        code, stderr = result.returncode, result.stderr
    lines = [line for line in stderr.splitlines() if line.strip() and "━" not in line]  # progress bars
    assert code != 0 and "Traceback" not in stderr, stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def entries(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


@pytest.fixture(scope="module")
def small_test(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten real CIFAR-10 test JPEGs per class, copied (links out of a data folder are not followed)."""
    root = tmp_path_factory.mktemp("cifar-small")
    for class_dir in sorted((CIFAR / "test").iterdir()):
        (root / class_dir.name).mkdir()
        for jpg in sorted(class_dir.iterdir())[:10]:
            shutil.copy(jpg, root / class_dir.name / jpg.name)
    return root


# --- wrong results with exit 0 ------------------------------------------------------------------------------


def test_renamed_class_folder_is_an_error_unless_mapped_by_position(small_test, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(small_test, data)
    (data / "truck").rename(data / "lorry")
    line = error_line(run_cli("eval", RESNET18, "--data", data))
    assert str(data) in line and "lorry" in line and "--map-by-position" in line
    mapped = run_cli("eval", RESNET18, "--data", data, "--map-by-position", "--json")
    assert mapped.exit_code == 0 and json.loads(mapped.stdout)["label_mapping"] == "by-position"
    named = run_cli("eval", RESNET18, "--data", small_test)
    assert named.exit_code == 0 and "classes by-name" in named.stdout
    gated = run_cli("quantize", RESNET18, "--calib", data, "--out", tmp_path / "q.onnx", "--eval", data)
    assert "lorry" in error_line(gated)
    assert not list(tmp_path.glob("q.onnx*")) and not list(tmp_path.glob(".q.onnx*"))
    bench = run_cli("bench", RESNET18, "--data", data, "--min-runs", 1, "--min-seconds", 0, "--warmup", 0)
    assert "lorry" in error_line(bench)


def test_nan_calibration_data_gives_no_int8_file(tmp_path):
    np.save(tmp_path / "nan.npy", np.full((64, 32, 32, 3), np.nan, np.float32))
    line = error_line(run_cli("quantize", RESNET20, "--calib", tmp_path / "nan.npy", "--out", tmp_path / "q.onnx"))
    assert "nan.npy" in line and "NaN" in line
    assert entries(tmp_path) == {"nan.npy"}


def test_npz_labels_out_of_range(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "unnamed.npz", x=images, y=np.arange(40) % 12)
    assert "label 11 is out of range" in error_line(run_cli("eval", RESNET20, "--data", tmp_path / "unnamed.npz"))
    np.savez(tmp_path / "named.npz", x=images, y=np.arange(40) % 12, classes=np.array(list("abcdefghij")))
    assert "10 class names" in error_line(run_cli("eval", RESNET20, "--data", tmp_path / "named.npz"))
    np.savez(tmp_path / "negative.npz", x=images, y=np.arange(40) % 10 - 1)
    assert "negative" in error_line(run_cli("eval", RESNET20, "--data", tmp_path / "negative.npz"))


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        (["--batch", "0"], "--batch"),
        (["--batch=-1"], "--batch"),
        (["--batch", "1,x"], "--batch"),
        (["--cpus", "64"], "--cpus"),
        (["--cpus", "0", "--target", "local-cpu"], "--cpus"),
        (["--remote-data", "/data"], "--remote-data"),
        (["--map-by-position"], "--map-by-position"),
    ],
)
def test_bench_option_values_are_checked_before_any_work(flags, names):
    assert names in error_line(run_cli("bench", RESNET20, *flags))


@pytest.mark.parametrize(
    ("section", "line", "names"),
    [
        ("bench", "batches = [0]", "[bench] batches"),
        ("bench", "batches = []", "[bench] batches"),
        ("data", "calibration_images = -5", "[data] calibration_images"),
        ("quantize", "max_drop = -5", "[quantize] max_drop"),
        ("prune", "target_macs = 1.5", "[prune] target_macs"),
        ("prune", "importance = 'random'", "[prune] importance"),
        ("bench", "targets = ['no-such-board']", "no-such-board"),
    ],
)
def test_pipeline_values_are_checked_before_any_stage(tmp_path, section, line, names):
    sections = {"model": f'checkpoint = "{RESNET20}"', "data": f'calibration = "{CIFAR / "train"}"\n'}
    sections["data"] += f'evaluation = "{CIFAR / "test"}"'
    sections[section] = sections.get(section, "") + "\n" + line
    config = tmp_path / "p.toml"
    config.write_text("".join(f"[{name}]\n{body}\n" for name, body in sections.items()))
    assert names in error_line(run_cli("pipeline", config, "--out", tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_quantize_max_drop_below_zero_fails_before_work(small_test, tmp_path):
    result = run_cli("quantize", RESNET20, "--calib", small_test, "--out", tmp_path / "q.onnx", "--max-drop", -5)
    assert "--max-drop" in error_line(result) and entries(tmp_path) == set()


@pytest.mark.parametrize("url", ["ssh://user@127.0.0.1:99999", "ssh://user@127.0.0.1:abc"])
def test_bad_ssh_port(url):
    line = error_line(run_cli("targets", "check", url))
    assert url in line and "1-65535" in line


# --- checkpoints that are not what they claim ---------------------------------------------------------------


def test_random_bytes_and_foreign_architectures(tmp_path):
    import torch
    import torchvision

    (tmp_path / "random.pth").write_bytes(np.random.default_rng(0).bytes(5000))
    line = error_line(run_cli("inspect", tmp_path / "random.pth"))
    assert "not a PyTorch checkpoint" in line and line.endswith("re-download it")
    torch.save(torchvision.models.mobilenet_v2(num_classes=10).state_dict(), tmp_path / "mobilenet.pth")
    line = error_line(run_cli("inspect", tmp_path / "mobilenet.pth"))
    assert "not a ResNet" in line and "features.0.0.weight" in line and "--key" not in line


# --- the pruned model that is no use -----------------------------------------------------------------------


def test_a_useless_pruned_model_is_said_loudly(small_test, tmp_path):
    out = tmp_path / "p.safetensors"
    result = run_cli("prune", RESNET20, "--out", out, "--target-macs", 0.3, "--eval", small_test)
    assert result.exit_code == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning: "))
    assert "not usable" in warning and "--finetune" in warning
    report = json.loads((tmp_path / "p.safetensors.report.json").read_text())
    assert report["warnings"] == [warning.removeprefix("warning: ")] and report["top1"]["after"] < 0.5


def test_a_useless_pruned_variant_in_a_pipeline_is_said_in_terminal_and_report(small_test, tmp_path):
    config = tmp_path / "p.toml"
    config.write_text(
        f'[model]\ncheckpoint = "{RESNET20}"\n[data]\ncalibration = "{small_test}"\nevaluation = "{small_test}"\n'
        "[prune]\nenabled = true\ntarget_macs = 0.3\n[export]\nformats = ['onnx']\n[quantize]\nenabled = false\n"
        "[bench]\nmin_runs = 5\nmin_seconds = 0.0\nwarmup = 1\n"
    )
    result = run_cli("pipeline", config, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if "not usable" in line)
    assert warning.startswith("warning: prune: pruned top-1") and "[prune] train" in warning
    page = (tmp_path / "run" / "report.html").read_text()
    assert page.count("not usable as it is") == 2  # at the top, and in the pruning section


# --- disks: read-only and full ------------------------------------------------------------------------------


def _namespace_ok() -> str | None:
    if shutil.which("unshare") is None:
        return "util-linux unshare is missing"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d"],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"no private tmpfs mounts here ({probe.stderr.strip()[:100]})"


def on_tmpfs(size: str, argv: list[object], read_only: bool = False) -> tuple[int, str, set[str]]:
    """Run the CLI with --out under a fresh tmpfs of `size`; return (exit code, stderr, files on the tmpfs)."""
    reason = _namespace_ok()
    if reason:
        pytest.skip(reason)
    cli = " ".join(shlex.quote(str(a)) for a in [*CLI, *argv])
    remount = "mount -o remount,ro /mnt/t" if read_only else "true"
    script = (
        f"mount -t tmpfs -o size={size} tmpfs /mnt/t && mkdir -p /mnt/t/out && {remount} && "
        f"{cli} 2>/mnt/err; echo rc=$?; cat /mnt/err >&2; cd /mnt/t && find . -mindepth 1"
    )
    scratch = Path("/mnt")
    if not scratch.is_dir():
        pytest.skip("/mnt is missing")
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs tmpfs /mnt && mkdir /mnt/t && {script}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = done.stdout.splitlines()
    rc_line = next(i for i, line in enumerate(lines) if line.startswith("rc="))
    files = {line.removeprefix("./") for line in lines[rc_line + 1 :]}
    return int(lines[rc_line][3:]), done.stderr, files


def test_read_only_output_folder():
    code, stderr, files = on_tmpfs("1m", ["export", RESNET20, "--out", "/mnt/t/out/r.onnx"], read_only=True)
    line = error_line((code, stderr))
    assert "/mnt/t/out/r.onnx" in line and "Read-only file system" in line and files == {"out"}


@pytest.mark.parametrize("size", ["200k", "1100k", "1200k"])
def test_full_disk_during_export_leaves_the_whole_set_or_nothing(size):
    """resnet20's ONNX file is ~1.1 MB: the disk fills while writing it, or while writing its sidecars."""
    code, stderr, files = on_tmpfs(size, ["export", RESNET20, "--out", "/mnt/t/out/r.onnx"])
    full = {"out", "out/r.onnx", "out/r.onnx.card.json", "out/r.onnx.report.json"}
    if code == 0:
        assert files == full
    else:
        line = error_line((code, stderr))
        assert "/mnt/t/out/r.onnx" in line and "No space left" in line and "--out" in line
        assert files == {"out"}  # no model, no card, no hidden temp file, no scratch folder


def test_full_disk_during_quantize(small_test):
    code, stderr, files = on_tmpfs(
        "600k", ["quantize", RESNET20, "--calib", small_test, "--out", "/mnt/t/out/q.onnx", "--optimize", "none"]
    )
    line = error_line((code, stderr))
    assert "/mnt/t/out/q.onnx" in line and "No space left" in line and files == {"out"}


# --- killed runs, umask, links ------------------------------------------------------------------------------


def test_leftovers_of_a_killed_run_are_removed_by_the_next(small_test, tmp_path):
    out = tmp_path / "q.tflite"
    argv = [*CLI, "quantize", RESNET18, "--calib", small_test, "--out", out, "--num", 64, "--optimize", "none"]
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(".q.tflite.*.work")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # let it write into its scratch folder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = entries(tmp_path)
    assert left and all(name.startswith(".q.tflite.") for name in left)  # a killed run leaves these
    done = edgeres("export", RESNET20, "--out", out, "--no-verify")  # the next run on the same output
    assert done.returncode == 0, done.stderr
    assert entries(tmp_path) == {"q.tflite", "q.tflite.card.json", "q.tflite.report.json"}


def test_files_get_the_users_umask(tmp_path):
    result = edgeres("export", RESNET20, "--out", tmp_path / "r.onnx", "--no-verify", umask=0o027)
    assert result.returncode == 0, result.stderr
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(("r.onnx", "r.onnx.card.json", "r.onnx.report.json"), 0o640)


def test_data_folders_do_not_follow_links_out_or_around(small_test, tmp_path):
    data = tmp_path / "data"
    for name in ("cat", "dog"):
        shutil.copytree(small_test / name, data / name)
    (data / "bird").symlink_to(CIFAR / "test" / "bird")  # out of the folder: 1000 images elsewhere
    (data / "dog" / "loop").symlink_to(data / "dog")  # around in a loop
    (data / "cat" / "passwd.jpg").symlink_to("/etc/passwd")
    result = run_cli("eval", RESNET18, "--data", data, "--json")  # two of its ten classes, by name
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["n"] == 20
    assert "2 link(s) out of the folder not followed" in result.stderr


# --- the demo trains the same model everywhere --------------------------------------------------------------

TRAIN = """
import hashlib, sys, numpy as np, torch
from edgeres.demo.train import train_steps
from edgeres.models import build_model, spec_from_name
torch.set_num_threads(int(sys.argv[1]))
rng = np.random.default_rng(0)
x, y = rng.standard_normal((256, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, 256)
torch.manual_seed(0)
model = build_model(spec_from_name("cifar_resnet8", 10))
train_steps(model, x, y, steps=12, seed=0, progress=lambda d, t: None, batch_size=64)
print(hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.state_dict().values())).hexdigest())
"""


def test_demo_training_gives_the_same_weights_whatever_the_threads_and_load():
    hashes = set()
    for threads in (1, 2):
        done = subprocess.run([sys.executable, "-c", TRAIN, str(threads)], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        hashes.add(done.stdout.strip())
    assert len(hashes) == 1
