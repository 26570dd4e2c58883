"""What a benchmark ran on: CPU, instruction sets, cores, affinity, governor, library versions. No torch."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..isa import local_cpu
from ..runtimes.registry import packages

PACKAGES = ("numpy", *packages(), "edgeres")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """Facts about this machine and its runtimes, as JSON-ready data."""
    cpu = local_cpu()
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_model": cpu.model,
        "machine": cpu.arch,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "affinity": affinity,
        "cpu_flags": sorted(cpu.flags),
        "cpu_note": cpu.note,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "gpus": gpu_info(),
        "versions": versions,
    }


def _nvidia_smi(*args: str) -> list[list[str]]:
    """Rows of nvidia-smi CSV output, or [] where there is no NVIDIA driver. Torch-free, for boards too."""
    try:
        out = subprocess.run(
            ["nvidia-smi", *args, "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    return [[cell.strip() for cell in line.split(",")] for line in out.stdout.splitlines() if line.strip()]


def gpu_info() -> list[dict[str, str]]:
    """Name, driver and memory of each NVIDIA GPU (empty without one)."""
    rows = _nvidia_smi("--query-gpu=name,driver_version,memory.total")
    return [{"name": r[0], "driver": r[1], "memory_total_mb": r[2]} for r in rows if len(r) == 3]


def gpu_process_mb() -> float | None:
    """GPU memory this process holds now (all models, CUDA context included), per nvidia-smi; None without."""
    rows = _nvidia_smi("--query-compute-apps=pid,used_memory")
    used = [float(r[1]) for r in rows if len(r) == 2 and r[0] == str(os.getpid()) and r[1].isdigit()]
    return sum(used) if used else None


def rss_mb() -> float:
    """Resident memory of this process now (Linux), else its peak."""
    statm = _read("/proc/self/statm")
    if statm:
        return int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if platform.system() == "Darwin" else peak / 1e3


def pin_cpus(cpus: list[int] | set[int]) -> None:
    """Pin this process to `cpus` (big.LITTLE boards: time on the big cores only): every thread it has, since
    affinity is per thread and thread pools started before (BLAS, PyTorch, a runtime opened earlier) keep
    theirs; threads started later inherit it (onnxruntime, which would pin its pool to every core, is given
    the pinned count: runtimes/onnxruntime.py)."""
    tasks = Path("/proc/self/task")
    threads = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for thread in threads:
        try:
            os.sched_setaffinity(thread, cpus)
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
