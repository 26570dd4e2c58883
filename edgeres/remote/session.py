"""Benchmark on a board over SSH: copy runner, models and data to a fresh temp folder, check them by
sha256, run the torch-free runner there, stream its progress back, and always remove the folder.

Timing happens on the board. A lost connection or a timeout ends in a RemoteRunError that carries the
results already received; the runner on the board exits when its connection closes or its deadline
passes, and the next contact sweeps any folder left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np

from .._io import sha256_file, system_temp
from ..bench.harness import TimingConfig
from ..data import ArrayImageSet, FileImageSet, open_images, stratified_subset
from ..progress import Progress
from ..runtimes.registry import board_suffixes
from .bundle import build_bundle
from .runner import DEADLINE_FILE, RUN_PREFIX
from .ssh import Ssh
from .targets import Target, TargetError

T = TypeVar("T")


class RemoteRunError(TargetError):
    """A remote run failed part-way; `partial` holds the per-batch results received before it did."""

    def __init__(self, message: str, partial: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.partial = partial


def pack_data(data: str | os.PathLike[str], limit: int | None, folder: Path) -> Path:
    """The labeled images a local run with this `limit` would score, as a .tar (files) or .npz (arrays)."""
    images = open_images(data)
    if images.labels is None or images.classes is None:
        raise TargetError(f"{data}: a remote accuracy run needs labeled images (one sub-folder per class)")
    chosen = stratified_subset(images.labels, len(images), limit)
    if isinstance(images, ArrayImageSet):
        out = folder / "data.npz"
        np.savez(out, images=images.images[chosen], labels=images.labels[chosen], classes=np.array(images.classes))
        return out
    assert isinstance(images, FileImageSet)
    out = folder / "data.tar"
    with tarfile.open(out, "w") as archive:
        for index in chosen:
            source = images.files[int(index)]
            name = f"{images.classes[int(images.labels[index])]}/{int(index):07d}{source.suffix.lower()}"
            archive.add(source, arcname=name, recursive=False)
    return out


def _remote_name(index: int, path: Path) -> str:
    return f"m{index}{path.suffix.lower()}"


def _upload(ssh: Ssh, rdir: str, files: dict[str, Path], progress: Progress | None) -> None:
    for done, (name, path) in enumerate(files.items(), 1):
        ssh.put(path, f"{rdir}/{name}")
        if progress is not None:
            progress("upload", done, len(files))
    remote = [f"{rdir}/{name}" for name in files]
    hashes = json.loads(ssh.run([ssh.target.python, f"{rdir}/edgeres-runner.pyz", "sha256", *remote]))
    for name, path in files.items():
        if hashes.get(f"{rdir}/{name}") != sha256_file(path):
            raise TargetError(f"{ssh.target.name}: {path.name} arrived corrupted (sha256 differs); try again")


def upload_run_files(
    ssh: Ssh, pyz: str, files: dict[str, Path], deadline: float, progress: Progress | None = None
) -> None:
    """Sweep the board's stale run folders, then copy `files` ({remote name: local path}) and the run's
    deadline beside the runner `pyz`, checked by sha256."""
    target, rdir = ssh.target, str(PurePosixPath(pyz).parent)
    ssh.run([target.python, pyz, "sweep", target.workdir, f"--keep={PurePosixPath(rdir).name}"])
    with system_temp("deadline") as tmp:
        marker = Path(tmp) / DEADLINE_FILE
        marker.write_text(f"{deadline + 60:.0f}")
        _upload(ssh, rdir, {DEADLINE_FILE: marker, **files}, progress)


def _localize(run: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Put the laptop's model paths back into a run measured on remote copies."""
    for entry in run["entries"]:
        entry["model"] = names.get(Path(entry["model"]).name, entry["model"])
    for item in run["skipped"]:
        item["model"] = names.get(Path(item["model"]).name, item["model"])
    config = run["config"]
    config["models"] = [names.get(Path(m).name, m) for m in config["models"]]
    config["baseline"] = names.get(Path(config["baseline"]).name, config["baseline"])
    return run


def _stream(
    proc: subprocess.Popen[bytes], key: str, results: list[Any], errors: list[str], progress: Progress | None
) -> None:
    def stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            results.append(json.loads(line)[key])

    def stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            try:
                record = json.loads(raw)
            except ValueError:
                errors.append(raw.decode(errors="replace").strip())
                continue
            if "progress" in record and progress is not None:
                progress(*record["progress"])
            if "error" in record:
                errors.append(record["error"])

    for reader in (stdout, stderr):
        threading.Thread(target=reader, daemon=True).start()


def run_streaming(ssh: Ssh, argv: list[str], key: str, timeout: float, progress: Progress | None) -> list[Any]:
    """Run a runner command whose results come as JSON lines {key: result} on stdout, progress and errors as
    JSON lines on stderr; every result received. Raises RemoteRunError (with those results) when it fails."""
    results: list[Any] = []
    errors: list[str] = []
    proc = subprocess.Popen(ssh.argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _stream(proc, key, results, errors, progress)
    where = f"{ssh.target.name} ({ssh.target.address})"
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise RemoteRunError(f"{where}: no result within {timeout:.0f} s{_kept(results)}", results) from None
    except BaseException:  # Ctrl-C: closing the connection makes the runner on the board exit
        proc.kill()
        raise
    time.sleep(0.2)  # let the reader threads drain the pipes
    if code != 0:
        reason = errors[-1] if errors else f"ssh exit {code}: connection lost"
        if code == 255 or not errors:
            reason = f"connection lost ({reason})"
        raise RemoteRunError(f"{where}: {reason}{_kept(results)}", results)
    return results


def _kept(results: list[dict[str, Any]]) -> str:
    return f"; results of {len(results)} batch size(s) kept" if results else ""


@dataclass(frozen=True)
class TargetRunOptions:
    """What a run on targets measures and how; the same for every target of one run."""

    data: str | os.PathLike[str] | None = None  # labeled images copied to each board
    remote_data: str | None = None  # labeled images already on the board, instead of `data`
    limit: int | None = None
    map_by_position: bool = False
    batches: tuple[int, ...] = (1,)
    timing: TimingConfig = field(default_factory=TimingConfig)
    accept_new_host_key: bool = False
    timeout: float = 3600.0  # seconds per board
    runtimes: tuple[str, ...] = ()  # the runtimes each file is timed in; () the target's bench_runtimes
    precision: str | None = None  # OpenVINO's inference precision (RuntimeOptions.precision); None by file kind


def bench_remote(
    target: Target, models: list[Path], options: TargetRunOptions | None = None, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """One run dict (schema edgeres.bench/1) per batch size, measured on `target`.

    Raises HostKeyError/UnreachableError before anything is copied, TargetError for a board that lacks a
    runtime (with the pip command), RemoteRunError (with partial results) when the run breaks off.
    """
    for path in models:
        if path.suffix.lower() not in board_suffixes():
            kinds = " and ".join(board_suffixes())
            raise TargetError(f"{path}: boards run {kinds} files (no PyTorch there); export it first")
    options = options or TargetRunOptions()
    data, remote_data, limit = options.data, options.remote_data, options.limit
    deadline = time.time() + options.timeout
    names = {_remote_name(i, p): str(p) for i, p in enumerate(models)}

    def job(ssh: Ssh, pyz: str) -> list[dict[str, Any]]:
        rdir = str(PurePosixPath(pyz).parent)
        with system_temp("upload") as tmp:
            files = {_remote_name(i, p): p for i, p in enumerate(models)}
            data_name = None
            if data is not None and remote_data is None:
                packed = pack_data(data, limit, Path(tmp))
                files[packed.name], data_name = packed, packed.name
            upload_run_files(ssh, pyz, files, deadline, progress)
        data_arg = remote_data or (f"{rdir}/{data_name}" if data_name else None)
        argv = _bench_argv(target, rdir, models, data_arg, limit if remote_data else None, options, deadline)
        argv += ["--map-by-position"] if options.map_by_position and data_arg else []
        try:
            runs = run_streaming(ssh, argv, "run", options.timeout, progress)
            return [_localize(run, names) for run in runs]
        except RemoteRunError as exc:
            exc.partial = [_localize(run, names) for run in exc.partial]
            raise

    return with_runner(target, options.accept_new_host_key, job)


def _bench_argv(
    target: Target,
    rdir: str,
    models: list[Path],
    data: str | None,
    limit: int | None,
    options: TargetRunOptions,
    deadline: float,
) -> list[str]:
    timing = options.timing
    argv = [target.python, f"{rdir}/edgeres-runner.pyz", "bench", f"--deadline={deadline:.0f}"]
    argv += [f"--model={rdir}/{_remote_name(i, p)}" for i, p in enumerate(models)]
    argv += [f"--batch={','.join(map(str, options.batches))}", f"--threads={target.threads}"]
    argv += [f"--warmup={timing.warmup}"]
    argv += [f"--min-runs={timing.min_runs}", f"--min-seconds={timing.min_seconds}"]
    names = options.runtimes or target.bench_runtimes
    argv += [f"--runtime={','.join(names)}"] if names else []
    argv += [f"--precision={options.precision}"] if options.precision else []
    if data is not None:
        argv += [f"--data={data}"] + ([f"--limit={limit}"] if limit else [])
    return argv


def with_runner(target: Target, accept_new_host_key: bool, job: Callable[[Ssh, str], T]) -> T:
    """Run `job(ssh, runner path)` with the runner in a fresh temp folder on the board, and remove the folder
    afterwards, also after a failure or Ctrl-C (an unreachable board's folder goes at the next contact's sweep)."""
    ssh = Ssh(target, accept_new_host_key)
    rdir = ssh.run(["mktemp", "-d", f"{target.workdir.rstrip('/')}/{RUN_PREFIX}XXXXXXXX"]).strip()
    try:
        with system_temp("runner") as tmp:
            ssh.put(build_bundle(tmp), f"{rdir}/edgeres-runner.pyz")
        return job(ssh, f"{rdir}/edgeres-runner.pyz")
    finally:
        with contextlib.suppress(TargetError):
            ssh.run(["rm", "-rf", "--", rdir], timeout=30)
