"""Run Python as an AVX2-only x86 CPU would: natively where this CPU is one, else under qemu-user (Haswell).

qemu's emulated cpuid makes numpy, onnxruntime and LiteRT choose the kernels a real Haswell runs; that is
what decides int8 exactness, and it needs no speed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgeres.isa import local_cpu

ROOT = Path(__file__).resolve().parents[1]


def avx2_prefix() -> list[str]:
    """argv prefix that runs this venv's Python on an AVX2-only CPU; skips the test where none is possible."""
    cpu = local_cpu()
    if not cpu.is_x86:
        pytest.skip(f"needs an x86 host, this is {cpu.arch}")
    if "avx2" in cpu.flags and not cpu.has_vnni and "avx512f" not in cpu.flags:
        return [sys.executable]
    qemu = shutil.which("qemu-x86_64-static") or str(ROOT / ".cache/qemu/usr/bin/qemu-x86_64-static")
    if not os.access(qemu, os.X_OK):
        pytest.skip("this CPU has AVX-512/VNNI and qemu-user-static is absent (make qemu-x86 installs it)")
    return [qemu, "-cpu", "Haswell", sys.executable]


def run_avx2(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`python ARGS...` on an AVX2-only CPU; qemu's notes about cpuid bits TCG lacks are dropped from stderr."""
    result = subprocess.run(
        [*avx2_prefix(), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )
    result.stderr = "\n".join(line for line in result.stderr.splitlines() if "TCG doesn't support" not in line)
    return result
