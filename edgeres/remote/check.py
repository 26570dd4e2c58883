"""`edgeres targets check` as a library call: what a target has (Python, CPU, packages, the runtimes those
provide) and, where it cannot run benchmarks, the one install line that fixes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import EdgeresError
from ..isa import cpu_from_record, target_for_cpu
from ..runtimes.registry import Runtime, runtimes, usable
from .multi import check_target
from .targets import Target, resolve_target


@dataclass(frozen=True)
class TargetCheck:
    """A probed target: its probe record, packages (name -> version or None) and usable runtimes."""

    target: Target
    info: dict[str, Any]
    packages: dict[str, str | None]
    runtimes: list[Runtime]

    @property
    def int8_target(self) -> str:
        """The `quantize --target` recipe that fits this target's CPU."""
        return target_for_cpu(cpu_from_record(self.info))

    def problem(self) -> EdgeresError | None:
        """What keeps benchmarks from running there, with the pip line that fixes it; None when nothing does."""
        if self.packages.get("numpy") and self.runtimes:
            return None
        hint = " ".join(r.install_hint() for r in runtimes() if r.board)
        python = self.info.get("executable", self.target.python)
        return EdgeresError(
            f"{self.target.name}: needs numpy and a runtime: {python} -m pip install numpy pillow {hint}"
        )


def check_named_target(name: str, *, accept_new_host_key: bool = False) -> TargetCheck:
    """Probe target `name` (a profile or ssh:// URL); sweeps its stale run folders on the way."""
    target = resolve_target(name)
    info = check_target(target, accept_new_host_key=accept_new_host_key)
    packages = info.get("packages") or info.get("versions", {})
    return TargetCheck(target, info, packages, usable(packages, board=target.transport != "local"))
