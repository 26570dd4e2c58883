"""Shared fixtures: the real checkpoints and CIFAR-10 JPEGs in ../shared (skipped when absent)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeres.cli import cli

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGERES_SHARED", ROOT.parent / "shared"))
CHECKPOINTS = SHARED / "checkpoints"
CIFAR = SHARED / "datasets" / "cifar10"
SHARED_CKPTS = {
    "resnet20-12fca82f.th": ("cifar_resnet20", 0.8103),
    "resnet32-d509ac18.th": ("cifar_resnet32", 0.8256),
    "resnet18_cifar10.pth": ("resnet18", 0.8415),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
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
