"""CPU instruction sets, and which ones an int8 file needs to compute what it was calibrated for. No torch.

Why it matters: x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake) multiply uint8 activations by int8
weights with `vpmaddubsw`, which adds each pair of products into a *saturating* 16-bit lane. Weights beyond
+-64 can overflow it (255 * 127 * 2 > 32767); onnxruntime's and OpenVINO's u8*s8 kernels both do this, and a
file that is exact on a VNNI CPU lost 6 pp top-1 on an AVX2-only EPYC. VNNI (`vpdpbusd`) and AMX accumulate
in 32 bits, ARM's int8 kernels widen first: neither saturates.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from pathlib import Path

# What an int8 recipe can be made for (edgeres.quantize.recipes): `x86` runs exactly on every x86 CPU,
# `x86-vnni` needs VNNI or AMX; `auto` picks one of them from a CPU's flags.
CPU_TARGETS = ("x86", "x86-vnni", "arm64", "generic")
AUTO = "auto"
# Any one of these gives x86 u8*s8 products a 32-bit accumulation.
X86_VNNI = ("avx512_vnni", "avx_vnni", "amx_int8")
# /proc/cpuinfo names of the flags that decide int8 and fp16 speed and exactness.
INTERESTING_FLAGS = ("avx2", "fma", "avx512f", *X86_VNNI, "asimd", "asimddp", "i8mm", "fphp")
# /proc/cpuinfo flag -> numpy's name for the same cpuid bit: what *this process* can execute.
_NUMPY_NAMES = {"avx2": "AVX2", "fma": "FMA3", "avx512f": "AVX512F", "avx512_vnni": "AVX512VNNI"}
# With int8 weights within +-64, 255 * 64 * 2 = 32640 fits a signed 16-bit lane: no saturation anywhere.
SAFE_WEIGHT_MAGNITUDE = 64


@dataclass(frozen=True)
class Cpu:
    """The CPU this process runs on: model name, architecture, and its interesting flags."""

    model: str
    arch: str  # platform.machine(): x86_64, aarch64, ...
    flags: tuple[str, ...]
    note: str = ""  # e.g. emulation detected

    @property
    def is_x86(self) -> bool:
        return self.arch.lower() in ("x86_64", "amd64", "i686", "i386")

    @property
    def has_vnni(self) -> bool:
        return bool(set(self.flags) & set(X86_VNNI))

    def describe(self) -> str:
        """One line for messages: model, architecture and flags."""
        return f"{self.model} ({self.arch}; {' '.join(self.flags) or 'no listed flags'})"


def _proc_cpuinfo() -> tuple[str, set[str]]:
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and value.strip():
            model = value.strip()
        if key in ("flags", "features"):
            flags |= set(value.split())
    return model, flags


def _cpuid_view() -> dict[str, bool] | None:
    """numpy's own cpuid probe: the features this process really has (qemu and VMs can differ from /proc)."""
    import importlib

    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # numpy 2, numpy 1
        try:
            features = getattr(importlib.import_module(module), "__cpu_features__", None)
        except ImportError:
            continue
        if isinstance(features, dict):
            return {str(k): bool(v) for k, v in features.items()}
    return None


def local_cpu() -> Cpu:
    """This machine's CPU as this process sees it: /proc/cpuinfo, checked against cpuid where numpy offers it."""
    model, flags = _proc_cpuinfo()
    arch, note = platform.machine(), ""
    x86_in_proc = flags & {"avx2", "sse2", *X86_VNNI}
    if arch.lower() in ("aarch64", "arm64") and x86_in_proc:
        # qemu-user passes the host's /proc/cpuinfo through: say so rather than report x86 flags for ARM
        return Cpu(f"emulated aarch64 (host: {model})", arch, ())
    cpuid = _cpuid_view() if x86_in_proc else None
    if cpuid is not None:
        missing = [f for f, name in _NUMPY_NAMES.items() if f in flags and not cpuid.get(name, False)]
        if missing:  # an emulated or masked CPU: trust cpuid, and drop the flags it cannot confirm
            note = f"cpuid lacks {', '.join(missing)} that /proc/cpuinfo lists (emulated CPU?)"
            flags = {f for f, name in _NUMPY_NAMES.items() if cpuid.get(name, False)}
    return Cpu(model, arch, tuple(f for f in INTERESTING_FLAGS if f in flags), note)


@dataclass(frozen=True)
class IsaAssumption:
    """What an int8 file needs from a CPU to compute what it was calibrated for.

    `needs_any` lists x86 flags of which one must be present on x86 CPUs (empty: none needed). Other
    architectures are not constrained by it.
    """

    needs_any: tuple[str, ...] = ()
    why: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> IsaAssumption:
        needs = data.get("needs_any", ())
        return cls(tuple(str(x) for x in needs) if isinstance(needs, (list, tuple)) else (), str(data.get("why", "")))


NO_ASSUMPTION = IsaAssumption()
NEEDS_VNNI = IsaAssumption(
    X86_VNNI,
    "int8 weights use the full +-127 range: x86 u8*s8 kernels without VNNI/AMX saturate 16-bit sums",
)


def mismatch(name: str, assumption: IsaAssumption | None, cpu: Cpu) -> str | None:
    """A one-line warning when `cpu` lacks what the file `name` assumes; None when it is fine."""
    if assumption is None or not assumption.needs_any or not cpu.is_x86:
        return None
    if set(cpu.flags) & set(assumption.needs_any):
        return None
    return (
        f"{name} assumes an x86 CPU with {' or '.join(assumption.needs_any)} ({assumption.why}); this CPU "
        f"({cpu.model}; {' '.join(cpu.flags) or 'none of those flags'}) has none, so its int8 results may be "
        "wrong here: re-quantize with --target x86 (portable), or set onnxruntime's session option "
        "session.x64quantprecision=1 in the application (slower U8U8 kernels)"
    )


def target_for_cpu(cpu: Cpu) -> str:
    """The recipe target (CPU_TARGETS) that is both exact and fast on `cpu`."""
    if cpu.is_x86:
        return "x86-vnni" if cpu.has_vnni else "x86"
    if cpu.arch.lower() in ("aarch64", "arm64"):
        return "arm64"
    return "generic"


def recipe_runs_well(target: str, cpu: Cpu) -> bool:
    """Whether an int8 file made for recipe `target` runs here as on the CPUs it was made for: the recipe
    chosen for this CPU, or the portable x86 one on any x86 CPU."""
    return target == target_for_cpu(cpu) or (target == "x86" and cpu.is_x86)


def cpu_from_record(machine: dict[str, object]) -> Cpu:
    """A Cpu from a machine record (bench JSON, `targets check`): how remote boards are judged."""
    flags = machine.get("cpu_flags") or []
    return Cpu(
        str(machine.get("cpu_model", "?")),
        str(machine.get("machine", "?")),
        tuple(str(f) for f in flags) if isinstance(flags, list) else (),
    )


def cpu_warning(name: str, runner: object, cpu: Cpu | None = None) -> str | None:
    """The mismatch warning for an opened model (its `isa` attribute, if any) on `cpu` (default: this one)."""
    assumption = getattr(runner, "isa", None)
    if not isinstance(assumption, IsaAssumption):
        return None
    return mismatch(name, assumption, cpu or local_cpu())
