"""Shared fixtures: the real checkpoints and CIFAR-10 JPEGs in ../shared (skipped when absent)."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeres.cli import cli
from edgeres.quantize.calibration_recipes import CalibrationRecipe, shipped_recipes

from .sshd import Sshd, start_sshd

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGERES_SHARED", ROOT.parent / "shared"))
CHECKPOINTS = SHARED / "checkpoints"
CIFAR = SHARED / "datasets" / "cifar10"
SHARED_CKPTS = {
    "resnet20-12fca82f.th": ("cifar_resnet20", 0.8103),
    "resnet32-d509ac18.th": ("cifar_resnet32", 0.8256),
    "resnet18_cifar10.pth": ("resnet18", 0.8415),
}


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker's torch (OpenMP) computes on one thread: two workers whose OpenMP pools
    spin on the same two cores ran single tests up to 2.7x slower than alone (the demo test: 65 s -> 173 s).
    Subprocesses inherit it. The `timing` tests run outside xdist, with every thread."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return
    os.environ["OMP_NUM_THREADS"] = "1"
    if "torch" in sys.modules:  # imported already (by a plugin): the variable alone no longer applies here
        sys.modules["torch"].set_num_threads(1)


# Markers that follow from what a test uses: a test is `ssh` when it starts the loopback sshd (directly or
# through a board profile), `gpu` when it lives with the CUDA provider tests.
_SSH_FIXTURES = {"sshd", "board"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _SSH_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ssh)
        if item.path.name == "test_gpu_providers.py":
            item.add_marker(pytest.mark.gpu)
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=f"{SHARED} not present (real checkpoints and data live there)")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _calibration_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Calibration statistics go to a per-run folder, never the user's ~/.cache."""
    os.environ["EDGERES_CACHE_DIR"] = str(tmp_path_factory.mktemp("edgeres-cache"))


@pytest.fixture(scope="session")
def cifar_test() -> Path:
    return CIFAR / "test"


@pytest.fixture(scope="session")
def real_batch() -> np.ndarray:
    """16 real CIFAR-10 test images (two per class for 8 classes), preprocessed with ImageNet stats."""
    from edgeres.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
    from edgeres.data import iter_batches, open_images

    images = open_images(CIFAR / "test")
    card = ModelCard("probe", 10, (32, 32), IMAGENET_MEAN, IMAGENET_STD)
    indices = [c * 1000 + i for c in range(8) for i in range(2)]
    return next(iter(iter_batches(images, card, indices, batch_size=16))).x


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def shipped_recipe(name: str) -> CalibrationRecipe:
    """A shipped calibration recipe (its count and seed) drawing from this suite's CIFAR-10 copy."""
    return dataclasses.replace(shipped_recipes()[name], data=str(CIFAR / "train"))


def run_cli(*args: str) -> CliResult:
    """Invoke the real click app in-process, as a user would from the shell."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def one_line_error(result: CliResult) -> str:
    """Assert the CLI failed with exactly one `error:` line and no traceback; return that line."""
    assert result.exit_code != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def _venv(folder: Path, packages: list[str]) -> str:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True, capture_output=True)
    return python


def _shared_venv(factory: pytest.TempPathFactory, name: str, packages: list[str]) -> str:
    """A virtualenv made once per run for every worker (read it, never install into it)."""
    with made_once(factory, name) as folder:
        python = folder / "bin" / "python"
        if not (folder / "complete").exists():  # an interrupted build is made again
            shutil.rmtree(folder, ignore_errors=True)
            _venv(folder, packages)
            (folder / "complete").touch()
        return str(python)


@pytest.fixture(scope="session")
def torch_free_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A virtualenv with what a board has (numpy, Pillow, onnxruntime, OpenVINO with onnx, ai-edge-litert), and
    no torch."""
    packages = ["numpy", "pillow", "onnxruntime", "openvino==2026.4.*", "onnx", "ai-edge-litert", "click", "rich"]
    return _shared_venv(tmp_path_factory, "board-venv", packages)


@pytest.fixture(scope="session")
def runtime_free_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A board Python with numpy and Pillow but neither onnxruntime nor LiteRT."""
    return _shared_venv(tmp_path_factory, "bare-board-venv", ["numpy", "pillow"])


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """OpenSSH's sshd on 127.0.0.1 with throwaway keys, for the whole session."""
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh $EDGERES_CONFIG_DIR; returns its targets/ folder, where a test writes its profiles."""
    folder = tmp_path / "config"
    (folder / "targets").mkdir(parents=True)
    monkeypatch.setenv("EDGERES_CONFIG_DIR", str(folder))
    return folder / "targets"


@pytest.fixture
def board(sshd: Sshd, torch_free_python: str, config_dir: Path) -> str:
    """A profile named "loopback": the sshd on 127.0.0.1 with the torch-free virtualenv as its Python."""
    (config_dir / "loopback.toml").write_text(sshd.profile("loopback", torch_free_python))
    return "loopback"


@contextlib.contextmanager
def made_once(factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """The path `name` in a folder every pytest-xdist worker of this run (and, under `make unit`, the `timing`
    run after it) shares, with a lock held on it: a worker that finds the file there uses it, the first one
    makes it (atomically, as edgeres writes) while the others wait. Files made this way are the same whichever
    worker makes them, so sharing them changes no result."""
    base = factory.getbasetemp()
    shared = os.environ.get("EDGERES_TEST_SHARED")  # `make unit`: one folder for its two pytest runs
    folder = Path(shared) if shared else (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "made-once"
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{target}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield target
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Path]:
    """exported(checkpoint, format): a shared checkpoint's verified fp32 export with the format's defaults, made
    once per run for every worker and test file (read it, never change it). Tests of exporting itself make
    their own."""
    from edgeres.export import export_model
    from edgeres.formats import registry

    def get(checkpoint: str, fmt: str) -> Path:
        with made_once(tmp_path_factory, f"exported/{Path(checkpoint).stem}/fp32{registry.named(fmt).suffix}") as out:
            return out if out.exists() else export_model(CHECKPOINTS / checkpoint, out).path

    return get


@pytest.fixture(scope="session")
def resnet20_files(tmp_path_factory: pytest.TempPathFactory, exported: Callable[[str, str], Path]) -> dict[str, Path]:
    """resnet20 as fp32 and int8, ONNX and TFLite (calibrated on 128 training images), made once per run."""
    from edgeres.quantize import QuantizeSettings, quantize_model

    out = {}
    for fmt in ("onnx", "tflite"):
        out[f"fp32.{fmt}"] = exported("resnet20-12fca82f.th", fmt)
        with made_once(tmp_path_factory, f"resnet20-files/int8.{fmt}") as int8:
            if not int8.exists():
                settings = QuantizeSettings(calib=shipped_recipe("cifar10-train-128"))
                quantize_model(out[f"fp32.{fmt}"], int8, settings)
        out[f"int8.{fmt}"] = int8
    return out


def interrupt_when_exists(argv: list[str], path: Path, env: dict[str, str] | None = None) -> None:
    """Run the CLI `argv`, send it a real SIGINT as soon as `path` exists, and check it stopped as Ctrl-C does."""
    # A suite started in the background (`make test &`) inherits an ignored SIGINT, and Python then installs no
    # KeyboardInterrupt handler: give the child the default disposition, as an interactive shell would.
    proc = subprocess.Popen(
        argv,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in stderr, stderr
