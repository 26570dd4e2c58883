"""Fine-tuning on several processes under torchrun (DistributedDataParallel, gloo on the CPU): every rank trains on
its share of the same global batches as one process would, an interrupted job resumes to the same weights, and
a rank that dies ends the job with one error line and no half-written file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from edgeres.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from edgeres.errors import EdgeresError
from edgeres.export import export_model
from edgeres.models import load_model
from edgeres.pipeline import ConfigError, load_config, run_pipeline
from edgeres.prune.finetune import read_state
from edgeres.prune.launch import PruneJob, prune_with_torchrun
from edgeres.prune.settings import PruneSettings
from edgeres.prune.training_batches import TrainingBatches

from .conftest import CHECKPOINTS, CIFAR, one_line_error, run_cli
from .int8_weights import onnx_int8_weights, onnx_int32_biases

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "edgeres.cli"]
# BatchNorm is the one difference on CPU ranks: each normalizes over its half of the global batch (SyncBatchNorm
# needs GPUs). resnet20 pruned to half its MACs: the 2-process weights differed from one process's by 3.4%
# (relative L2) after 2 epochs of 512 images and 6.9% after 5 epochs of 2,000 with distillation.
WEIGHT_TOLERANCE = 0.10


def _prune(out: Path, *extra: str) -> list[str]:
    return [
        "prune", str(CHECKPOINTS / "resnet20-12fca82f.th"), "--target-macs", "0.5", "--out", str(out),
        "--finetune", str(CIFAR / "train"), "--finetune-limit", "512", "--epochs", "2", "--batch-size", "64", *extra,
    ]  # fmt: skip


def _run(argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _relative_difference(a: Path, b: Path) -> float:
    x, y = load_file(a), load_file(b)
    floats = [k for k in x if x[k].is_floating_point()]
    num = sum(float((x[k].float() - y[k].float()).norm() ** 2) for k in floats)
    return (num / sum(float(x[k].float().norm() ** 2) for k in floats)) ** 0.5


def _workers(launcher: int) -> dict[int, int]:
    """{rank: pid} of the processes torchrun started."""
    found = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent = Path(f"/proc/{name}/stat").read_text().split()[3]
            environ = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ranks = [int(e[5:]) for e in environ if e.startswith(b"RANK=")]
        if parent == str(launcher) and ranks:
            found[ranks[0]] = int(name)
    return found


def _kill_rank_1_after_an_epoch(argv: list[str], state: Path) -> subprocess.CompletedProcess[str]:
    """Run torchrun; once the first epoch's state exists, SIGKILL the process of rank 1."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be stopped"
    os.kill(_workers(proc.pid)[1], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize("mixup", [0.0, 0.4])  # with mixup a partner may sit in another rank's share
def test_each_rank_takes_its_share_of_every_global_batch_with_the_same_augmentation(mixup):
    card = ModelCard("tiny", 10, (8, 8), IMAGENET_MEAN, IMAGENET_STD)
    x = np.random.default_rng(0).integers(0, 256, (49, 8, 8, 3), dtype=np.uint8)
    batches = TrainingBatches(x, np.arange(49) % 10, card, 16, mixup=mixup)
    single = list(batches.epoch(torch.Generator().manual_seed(7)))
    shares = [list(batches.epoch(torch.Generator().manual_seed(7), rank, 2)) for rank in (0, 1)]
    assert [total for _, _, total in single] == [16, 16, 16, 1]
    assert len(shares[0]) == len(shares[1]) == 3  # a last batch of one image cannot feed two ranks: dropped by both
    for (images, labels, total), *parts in zip(single, *shares, strict=False):
        for rank, (part_images, part_labels, part_total) in enumerate(parts):
            assert part_total == total
            assert torch.equal(part_images, images[rank::2]) and torch.equal(part_labels, labels[rank::2])


def test_mixup_blends_each_image_with_its_partner_and_the_labels_alike():
    """QAT's default: each image of a batch is a blend of two shuffled, augmented images (the share drawn per
    image), its label those two classes' probabilities in the same shares; the plan replays from the seed."""
    card = ModelCard("tiny", 10, (8, 8), IMAGENET_MEAN, IMAGENET_STD)
    x = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    y = np.arange(40) % 10
    plain, labels, _ = next(TrainingBatches(x, y, card, 16).epoch(torch.Generator().manual_seed(7)))
    mixing = TrainingBatches(x, y, card, 16, mixup=0.4)
    mixed, targets, _ = next(mixing.epoch(torch.Generator().manual_seed(7)))
    again, _, _ = next(mixing.epoch(torch.Generator().manual_seed(7)))
    first, partner = plain.flatten(1), plain.roll(1, 0).flatten(1)
    share = ((mixed.flatten(1) - partner) * (first - partner)).sum(1) / ((first - partner) ** 2).sum(1)
    assert torch.allclose(mixed.flatten(1), share[:, None] * first + (1 - share[:, None]) * partner, atol=1e-4)
    assert torch.equal(mixed, again) and share.min() >= 0 and share.max() <= 1 and share.std() > 0.1
    onehot = torch.nn.functional.one_hot(labels, 10).float()
    assert torch.allclose(targets, share[:, None] * onehot + (1 - share[:, None]) * onehot.roll(1, 0), atol=1e-4)


@pytest.mark.shared
@pytest.mark.slow
def test_two_processes_match_one_and_a_dead_rank_ends_the_job_cleanly_then_resumes(tmp_path):
    straight, single = tmp_path / "two.safetensors", tmp_path / "one.safetensors"
    done = _run(TORCHRUN + _prune(straight))
    assert done.returncode == 0, done.stderr
    assert _run([sys.executable, "-m", "edgeres.cli", *_prune(single)]).returncode == 0
    assert _relative_difference(single, straight) < WEIGHT_TOLERANCE
    assert export_model(straight, tmp_path / "two.onnx").verification.passed  # loads and exports like any model

    # A rank that dies mid-job: the others stop with one error line, only the last epoch's state is left, and
    # the same command with --resume ends with the weights of the uninterrupted job.
    resumed = tmp_path / "resumed.safetensors"
    state = resumed.with_name(resumed.name + ".finetune.pt")
    died = _kill_rank_1_after_an_epoch(TORCHRUN + _prune(resumed), state)
    errors = [line for line in died.stderr.splitlines() if line.startswith("error: ")]
    assert died.returncode != 0 and not resumed.exists(), died.stderr
    # rank 0 learns it from gloo (the peer's connection closed) or from torchrun's SIGTERM, whichever comes first
    said = ("rank 0 of 2: another process of the job stopped", "rank 0 of 2: stopped by torchrun")
    assert len(errors) == 1 and errors[0].startswith(tuple(f"error: {start}" for start in said)), died.stderr
    assert f"{state.name}; rerun with --resume" in errors[0] and read_state(state)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("resumed")) == [state.name]
    again = _run(TORCHRUN + _prune(resumed, "--resume"))
    assert again.returncode == 0, again.stderr
    assert _relative_difference(straight, resumed) < 1e-6 and not state.exists()


@pytest.mark.shared
@pytest.mark.slow
def test_a_stop_anywhere_in_a_job_names_the_state_to_resume_from(tmp_path):
    """torchrun's SIGTERM lands wherever rank 0 is: between epochs, after the last one, or while a block handles
    its peer's loss (seen once in the test above); each time the line names the state once there is one."""
    from edgeres.prune.distributed import RankLostError, Ranks, _terminated, keeping, peers_lost
    from edgeres.prune.finetune import saved_state

    state, ranks = tmp_path / "m.safetensors.finetune.pt", Ranks(0, 2)

    def sigterm() -> str:
        _terminated(ranks, signal.SIGTERM, None)
        return ""

    with keeping(saved_state(state)):
        with pytest.raises(RankLostError) as before:
            sigterm()
        state.touch()
        with pytest.raises(RankLostError) as after:
            sigterm()
        with pytest.raises(RankLostError) as racing, peers_lost(ranks, sigterm):
            raise RuntimeError("Connection closed by peer")
    assert "stopped by torchrun" in str(before.value) and "--resume" not in str(before.value)
    for caught in (after, racing):
        assert str(caught.value).count(f"{state}; rerun with --resume") == 1, caught.value


QUANTIZE = ("quantize", "--calib", str(CIFAR / "train"))


@pytest.mark.parametrize("command", [("export",), ("pipeline",), QUANTIZE, (*QUANTIZE, "--qat", str(CIFAR / "train"))])
def test_commands_that_run_in_one_process_refuse_a_torchrun_job(tmp_path, monkeypatch, command):
    """Each rank would do all the work and write the same files (quantize shares QAT alone): one line, nothing
    written. A job's variables half set (WORLD_SIZE without torchrun's others) are named, not a traceback."""
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets in each process it starts
    monkeypatch.setenv("RANK", "1")
    line = one_line_error(
        run_cli(command[0], CHECKPOINTS / "resnet20-12fca82f.th", *command[1:], "--out", tmp_path / "x.onnx")
    )
    if "--qat" in command:
        assert "LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not set: start the job with torchrun" in line
    elif command[0] == "quantize":
        assert "share QAT's fine-tuning only: give --qat DIR" in line
    else:
        assert f"`edgeres {command[0]}` runs in one process" in line and "without torchrun" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.shared
@pytest.mark.slow
def test_qat_on_two_processes_writes_the_file_one_process_writes(tmp_path):
    """Rank 0 calibrates and writes; both ranks train on their shares of each global batch (mixup partners
    across shares included). Only the order of the gradient sums differs: the same weight integers, and
    biases, on their fine int32 grid, equal but for a rare rounding."""
    calib = tmp_path / "calib"  # 64 images: a folder holding fewer than the default count is calibrated whole
    calib.mkdir()  # (no --num: torchrun's own parser takes it for its --numa-binding)
    for folder in sorted((CIFAR / "train").iterdir())[:8]:
        for image in sorted(folder.iterdir())[:8]:
            (calib / f"{folder.name}-{image.name}").write_bytes(image.read_bytes())
    args = ["quantize", str(CHECKPOINTS / "resnet20-12fca82f.th"), "--calib", str(calib), "--optimize", "none",
            "--qat", str(CIFAR / "train"), "--finetune-limit", "128", "--epochs", "1", "--batch-size", "64",
            "--json"]  # fmt: skip
    env = {**os.environ, "EDGERES_CACHE_DIR": str(tmp_path / "cache")}
    two, one = tmp_path / "two.onnx", tmp_path / "one.onnx"
    done = subprocess.run([*TORCHRUN, *args, "--out", str(two)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # rank 0's report, and nothing from rank 1
    assert report["qat"]["log"]["processes"] == 2 and report["qat"]["log"]["images"] == 128
    alone = run_cli(*args, "--out", one)
    assert alone.exit_code == 0, alone.stderr
    losses = [[e["loss"] for e in json.loads(r)["qat"]["log"]["epochs"]] for r in (done.stdout, alone.stdout)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(onnx_int8_weights(two), onnx_int8_weights(one), strict=True))
    biases = list(zip(onnx_int32_biases(two), onnx_int32_biases(one), strict=True))
    assert np.mean(np.concatenate([a == b for a, b in biases])) > 0.99
    assert not list(tmp_path.glob("*.qat.pt"))  # the training state goes once the file is written


def test_the_pipeline_launches_torchrun_for_its_fine_tuning(tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[model]\ncheckpoint = "{CHECKPOINTS / "resnet20-12fca82f.th"}"\n'
        f'[data]\ncalibration = "{CIFAR / "train"}"\nevaluation = "{CIFAR / "test"}"\nevaluation_images = 200\n'
        f'[prune]\nenabled = true\ntrain = "{CIFAR / "train"}"\ntrain_images = 256\nepochs = 1\nprocesses = 2\n'
        '[export]\nformats = ["onnx"]\n[quantize]\nenabled = false\n'
        '[bench]\ntargets = ["local-cpu"]\nmin_runs = 5\nmin_seconds = 0.0\n'
    )
    result = run_pipeline(config, tmp_path / "run")
    finetuned = json.loads(result.manifest.read_text())["stages"]["prune"]["meta"]["finetune"]
    assert finetuned["processes"] == 2 and finetuned["images"] == 256 and len(finetuned["epochs"]) == 1
    assert load_model(tmp_path / "run" / "models" / "pruned.safetensors").spec.name.endswith("_pruned")
    config.write_text(config.read_text().replace(f'train = "{CIFAR / "train"}"\n', ""))
    with pytest.raises(ConfigError, match=r"\[prune\] processes and device are for fine-tuning"):
        load_config(config)


def test_a_launched_job_that_fails_raises_the_ranks_own_error(tmp_path):
    """The launcher's job is pickled for the ranks; their `error:` line is what it raises, and no report."""
    job = PruneJob(tmp_path / "missing.th", tmp_path / "out.safetensors", PruneSettings(finetune_data=str(tmp_path)))
    with pytest.raises(EdgeresError, match=r"missing\.th") as caught:
        prune_with_torchrun(2, job)
    assert "Traceback" not in str(caught.value) and not (tmp_path / "out.safetensors").exists()


@pytest.mark.shared
def test_fine_tuning_devices_that_cannot_apply_are_one_error(tmp_path):
    out = tmp_path / "pruned.safetensors"
    base = ("prune", CHECKPOINTS / "resnet20-12fca82f.th", "--target-macs", "0.5", "--out", out)
    line = one_line_error(run_cli(*base, "--device", "cuda"))
    assert "--device cuda is where fine-tuning runs: give --finetune DIR too" in line and not out.exists()
    if not torch.cuda.is_available():
        line = one_line_error(run_cli(*base, "--device", "cuda", "--finetune", CIFAR / "train"))
        assert "torch.cuda.is_available() is False" in line and not out.exists()
