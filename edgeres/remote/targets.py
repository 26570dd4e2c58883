"""Target profiles: where a benchmark runs (this machine, or a board over SSH), as TOML data.

Shipped profiles live in the package (`edgeres._shipped.targets`); the user's own in
`$EDGERES_CONFIG_DIR/targets/` (default `~/.config/edgeres/targets/`) override them by name. An
`ssh://user@host:port` URL is a target too, with the generic-arm64 defaults.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import EdgeresError
from ..isa import AUTO, CPU_TARGETS
from ..runtimes.registry import names as runtime_names
from ..shipped_files import shipped

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class TargetError(EdgeresError):
    """A target profile is missing, malformed, or the board cannot be used."""


@dataclass(frozen=True)
class Target:
    name: str
    transport: str = "local"  # "local" or "ssh"
    host: str = ""
    user: str = ""
    port: int = 22
    identity: str = ""
    python: str = "python3"
    runtimes: tuple[str, ...] = ()  # the packages the board has (informational)
    bench_runtimes: tuple[str, ...] = ()  # runtimes each file is timed in (runtimes.registry names); () its own
    threads: int = 0
    workdir: str = "/tmp"
    device: str = "cpu"
    quantize_target: str = "auto"  # a recipe target, or "auto": from the CPU's flags (edgeres.quantize.recipe_target)
    cpu_flags: tuple[str, ...] = ()  # the board's CPU flags as /proc/cpuinfo names them, where known
    known_hosts: str = ""
    notes: str = ""
    source: str = ""  # the file it came from

    def listed_runtimes(self) -> tuple[str, ...]:
        """What it runs: a local CPU target without a list has what this environment has installed (probed)."""
        if self.runtimes or self.transport != "local" or self.device != "cpu":
            return self.runtimes
        from ..runtimes.registry import installed_here

        return tuple(r.name for r in installed_here())

    @property
    def probes_runtimes(self) -> bool:
        """Whether its runtimes are what this environment has installed rather than a list of its own."""
        return not self.runtimes and self.transport == "local" and self.device == "cpu"

    @property
    def address(self) -> str:
        """user@host:port for messages."""
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}"


def config_dir() -> Path:
    return Path(os.environ.get("EDGERES_CONFIG_DIR", Path.home() / ".config" / "edgeres"))


def _parse(text: str, origin: str) -> Target:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"{origin}: not valid TOML ({exc})") from None
    fields = {f.name: f for f in dataclasses.fields(Target)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise TargetError(f"{origin}: unknown keys {unknown}; known: {sorted(set(fields) - {'source'})}")
    data.setdefault("name", Path(origin).stem)
    for key in ("runtimes", "bench_runtimes", "cpu_flags"):
        if isinstance(data.get(key), list):
            data[key] = tuple(data[key])
    for key, value in data.items():
        expected = type(getattr(Target(name="x"), key)) if key != "name" else str
        if not isinstance(value, expected) or isinstance(value, bool):
            kind = {int: "an integer", str: "a string", tuple: "a list of strings"}[expected]
            raise TargetError(f"{origin}: {key} must be {kind}, got {value!r}")
    target = Target(**data, source=origin)
    if target.transport not in ("local", "ssh"):
        raise TargetError(f'{origin}: transport must be "local" or "ssh", got {target.transport!r}')
    if target.transport == "ssh" and not target.host:
        raise TargetError(f'{origin}: an ssh target needs host = "..."')
    if not 1 <= target.port <= 65535:
        raise TargetError(f"{origin}: port must be 1-65535, got {target.port}")
    if target.threads < 0:
        raise TargetError(f"{origin}: threads must be 0 (the runtime's default) or more, got {target.threads}")
    if target.quantize_target not in (AUTO, *CPU_TARGETS):
        raise TargetError(
            f"{origin}: quantize_target must be one of {', '.join((AUTO, *CPU_TARGETS))}, "
            f"got {target.quantize_target!r}"
        )
    if not all(isinstance(flag, str) for flag in target.runtimes + target.bench_runtimes + target.cpu_flags):
        raise TargetError(f"{origin}: runtimes, bench_runtimes and cpu_flags must be lists of strings")
    unknown = [name for name in target.bench_runtimes if name not in runtime_names()]
    if unknown:
        choices = ", ".join(runtime_names())
        raise TargetError(f"{origin}: bench_runtimes: {unknown[0]!r} is not a runtime; choose among {choices}")
    return target


def load_targets() -> dict[str, Target]:
    """All profiles by name: shipped ones, then the user's (which win)."""
    found: dict[str, Target] = {}
    for item in sorted(shipped("targets").iterdir(), key=lambda t: t.name):
        if item.name.endswith(".toml"):
            target = _parse(item.read_text(encoding="utf-8"), f"(shipped) {item.name}")
            found[target.name] = target
    user_dir = config_dir() / "targets"
    if user_dir.is_dir():
        for path in sorted(user_dir.glob("*.toml")):
            target = _parse(path.read_text(encoding="utf-8"), str(path))
            found[target.name] = target
    return found


def resolve_target(spec: str) -> Target:
    """A profile name or an ssh://[user@]host[:port] URL. Raises TargetError listing the known names."""
    if spec.startswith("ssh://"):
        url = urlsplit(spec)
        if not url.hostname:
            raise TargetError(f"{spec}: no host; write ssh://user@host:port")
        try:
            port = url.port if url.port is not None else 22
        except ValueError:
            port = 0
        if not 1 <= port <= 65535:
            raise TargetError(f"{spec}: the port must be a number 1-65535; write ssh://user@host:port")
        base = load_targets().get("generic-arm64", Target(name="generic-arm64", transport="ssh", host="x"))
        return dataclasses.replace(
            base, name=spec, host=url.hostname, user=url.username or "", port=port, source=spec, notes=""
        )
    targets = load_targets()
    if spec not in targets:
        raise TargetError(f"unknown target {spec!r}; known: {', '.join(targets)} (or ssh://user@host:port)")
    return targets[spec]
