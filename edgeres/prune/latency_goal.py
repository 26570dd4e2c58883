"""What `--target-latency` asks for, resolved from flags or a target profile: the fraction of the unpruned
latency to keep and the deployment it is timed in (format, precision, int8 recipe, runtime, threads, board).
Torch-free: the CLI and the pipeline resolve a goal, and torchrun ranks rebuild one from JSON, before any model
is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import EdgeresError
from ..formats import registry as format_registry
from ..latency.setting import PRECISIONS, LatencySetting
from ..runtimes.registry import named


@dataclass(frozen=True)
class LatencyTarget:
    """`--target-latency`: keep `fraction` of the unpruned model's latency measured in `setting`
    (on this machine or the board it names); `round_to` None measures the channel multiple."""

    fraction: float
    setting: LatencySetting = field(default_factory=LatencySetting)
    round_to: int | None = None
    caps: tuple[tuple[str, float], ...] = ()  # (precision, fraction): the other precision must not exceed this
    allow_depth: bool = True  # whole residual blocks may go when widths alone miss (and images are given)

    def __post_init__(self) -> None:
        for flag, fraction in (("--target-latency", self.fraction), *(("--cap-latency", f) for _, f in self.caps)):
            if not 0.0 < fraction < 1.0:
                raise EdgeresError(f"{flag} is a fraction of the unpruned model's latency, in (0, 1); got {fraction}")
        for precision, _ in self.caps:
            if precision not in PRECISIONS or precision == self.setting.precision:
                others = [p for p in PRECISIONS if p != self.setting.precision]
                raise EdgeresError(f"--cap-latency {precision}=...: cap {' or '.join(others)}, the other precision")

    def to_dict(self) -> dict[str, Any]:
        return {
            "fraction": self.fraction,
            "setting": self.setting.__dict__.copy(),
            "round_to": self.round_to,
            "caps": [list(cap) for cap in self.caps],
            "allow_depth": self.allow_depth,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyTarget:
        """Rebuild from `to_dict` (JSON); unknown keys are errors."""
        fields = dict(data)
        fields["setting"] = LatencySetting(**fields.pop("setting"))
        fields["caps"] = tuple((str(p), float(f)) for p, f in fields.pop("caps", ()))
        return cls(**fields)

    def targets(self) -> dict[str, float]:
        """{precision: fraction of its unpruned latency}, the chosen precision first."""
        return {self.setting.precision: self.fraction, **dict(self.caps)}


def latency_goal(
    fraction: float,
    precision: str | None = None,
    quantize_target: str | None = None,
    threads: int | None = None,
    round_to: int | None = None,
    caps: tuple[tuple[str, float], ...] = (),
    allow_depth: bool = True,
    on: str | None = None,
    fmt: str | None = None,
) -> LatencyTarget:
    """A LatencyTarget from user choices; `quantize_target` may be `auto` or a target profile, as for
    `edgeres quantize --target` (default x86, quantize's own default, or the profile's). `on`: a target
    profile or ssh:// board whose threads, runtime and int8 recipe time it (on the board itself for an SSH
    one); `threads` and `quantize_target` override the profile's. `fmt`: the file format timed (onnx, or the
    profile's runtime's; tflite)."""
    from ..quantize.recipe_target import resolve_quantize_target

    if on is not None:
        setting = profile_setting(on, precision or "int8", quantize_target, threads, fmt)
    else:
        recipe_target = resolve_quantize_target(quantize_target or "x86").target
        chosen = fmt or format_registry.DEFAULT
        setting = LatencySetting(chosen, precision or "int8", recipe_target, threads=threads)
    return LatencyTarget(fraction, setting, round_to, caps, allow_depth)


def latency_goal_for_profile(
    fraction: float, precision: str, profile: str, allow_depth: bool = True, round_to: int | None = None
) -> LatencyTarget:
    """A LatencyTarget timed like target profile `profile` (the pipeline's `[prune] latency_target`)."""
    return latency_goal(fraction, precision, round_to=round_to, allow_depth=allow_depth, on=profile)


def profile_setting(
    profile: str,
    precision: str,
    quantize_target: str | None = None,
    threads: int | None = None,
    fmt: str | None = None,
) -> LatencySetting:
    """The LatencySetting of target profile `profile`: its first bench runtime (and the format it opens, unless
    `fmt` says), its int8 recipe and threads (a board's own core count when it names none), timed on the board
    for an SSH profile."""
    from ..quantize.recipe_target import for_profile, resolve_quantize_target
    from ..remote.targets import resolve_target

    chosen = resolve_target(profile)
    runtime = chosen.bench_runtimes[0] if chosen.bench_runtimes else None
    fmt = fmt or _format_of(runtime)
    if runtime is not None and fmt not in named(runtime).formats:
        runtime = None  # the profile's runtime does not open that format: the format's default runtime
    recipe = resolve_quantize_target(quantize_target).target if quantize_target else for_profile(chosen).target
    threads = threads or chosen.threads or None
    if chosen.transport == "local":
        return LatencySetting(fmt, precision, recipe, runtime, threads)
    from ..remote.visits import board_facts

    threads = threads or int(board_facts(chosen)["cores"] or 1)
    return LatencySetting(fmt, precision, recipe, runtime, threads, board=profile)


def _format_of(runtime: str | None) -> str:
    """The first probe format `runtime` opens (the default format without one, or when it opens none)."""
    opens = named(runtime).formats if runtime is not None else ()
    return next((fmt for fmt in format_registry.probe_names() if fmt in opens), format_registry.DEFAULT)
