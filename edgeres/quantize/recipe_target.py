"""What a `--target` names for quantization: a recipe target, `auto` (this CPU), or a target profile.

A profile's `quantize_target` may itself be `auto`: a local profile then means this machine's CPU, a board
the CPU flags its profile states (`cpu_flags`), else the ones `targets check` finds on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import RecipeError
from ..isa import AUTO, Cpu, cpu_from_record, local_cpu, target_for_cpu
from .recipes import TARGETS

if TYPE_CHECKING:
    from ..remote.targets import Target

_ARM_FLAGS = {"asimd", "asimddp", "i8mm", "fphp", "neon"}


@dataclass(frozen=True)
class ResolvedTarget:
    """A recipe target and, for reports, how it was chosen."""

    target: str
    reason: str


def _stated_cpu(name: str, flags: tuple[str, ...]) -> Cpu:
    arch = "aarch64" if set(flags) & _ARM_FLAGS else "x86_64"
    return Cpu(f"{name} (profile)", arch, flags)


def resolve_quantize_target(spec: str, *, accept_new_host_key: bool = False) -> ResolvedTarget:
    """Raises RecipeError for a name that is neither a recipe target, `auto`, nor a profile (TargetError from
    probing a board whose profile states no CPU flags)."""
    if spec in TARGETS:
        return ResolvedTarget(spec, "as given")
    if spec == AUTO:
        cpu = local_cpu()
        return ResolvedTarget(target_for_cpu(cpu), f"auto: this CPU, {cpu.describe()}")
    from ..remote.targets import load_targets, resolve_target

    profiles = load_targets()
    if spec not in profiles and not spec.startswith("ssh://"):
        raise RecipeError(
            f"unknown --target {spec!r}; choose x86 (portable, any x86 CPU), x86-vnni (VNNI/AMX CPUs), arm64, "
            f"generic, auto (this CPU), a target profile ({', '.join(profiles)}) or ssh://user@host:port"
        )
    return for_profile(resolve_target(spec), accept_new_host_key=accept_new_host_key)


def for_profile(profile: Target, *, accept_new_host_key: bool = False) -> ResolvedTarget:
    """The recipe target of a target profile."""
    if profile.quantize_target != AUTO:
        return ResolvedTarget(profile.quantize_target, f"profile {profile.name}")
    if profile.transport == "local":
        cpu = local_cpu()
        how = "this CPU"
    elif profile.cpu_flags:
        cpu, how = _stated_cpu(profile.name, profile.cpu_flags), "cpu_flags in its profile"
    else:
        from ..remote import check_target

        cpu = cpu_from_record(check_target(profile, accept_new_host_key=accept_new_host_key))
        how = "probed over SSH"
    return ResolvedTarget(target_for_cpu(cpu), f"profile {profile.name}, auto from {how}: {cpu.describe()}")
