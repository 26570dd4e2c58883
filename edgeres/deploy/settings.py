"""What one deploy run is asked to do, as one frozen, validated object."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

from ..bench.harness import TimingConfig
from ..errors import EdgeresError
from ..formats import registry
from ..options import LoadOptions

SCREEN_TIMING = TimingConfig(warmup=5, min_runs=30, min_seconds=0.3)


@dataclass(frozen=True, kw_only=True)
class DeploySettings:
    """`formats` limits the candidates to those formats (empty: all); `calib` calibrates the int8 candidates;
    `data` (labeled) scores top-1, else agreement with the PyTorch model on calibration images kept out of
    calibration is the accuracy; `max_drop` is the bound in points (top-1, or agreement) below the PyTorch
    model; `finalists` int8 candidates are re-made with `optimize` and measured again."""

    target: str = "local-cpu"
    calib: str | os.PathLike[str]
    formats: tuple[str, ...] = ()  # the formats to consider (edgeres.formats names); empty: every one written here
    num: int = 256
    data: str | os.PathLike[str] | None = None
    limit: int | None = 2000
    map_by_position: bool = False
    max_drop: float = 1.0
    finalists: int = 2
    optimize: str = "fast"
    timing: TimingConfig = field(default_factory=lambda: SCREEN_TIMING)
    held_out: int = 256
    prune: tuple[float, ...] = ()  # latency fractions: a pruned variant per fraction (deploy.pruned)
    finetune: str | os.PathLike[str] | None = None  # labeled training images that fine-tune each variant
    epochs: int = 5
    finetune_limit: int | None = None
    round_to: int | None = None  # the pruned variants' channel multiple; None: measured (as prune --target-latency)
    force: bool = False
    resume: bool = False  # go on from the measurements an interrupted run kept (journal.partial_folder)
    load: LoadOptions = field(default_factory=LoadOptions)

    def fingerprint(self) -> str:
        """The settings that shape the candidates and their measurements (not the bound, which only chooses):
        a resumed run must have the same."""
        shaping = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("max_drop", "force", "resume")}
        return json.dumps(shaping, sort_keys=True, default=str)

    def __post_init__(self) -> None:
        if not self.max_drop >= 0:
            raise EdgeresError(f"--max-drop must be 0 or more points, got {self.max_drop}")
        if self.finalists < 1:
            raise EdgeresError(f"--finalists must be 1 or more, got {self.finalists}")
        if self.map_by_position and self.data is None:
            raise EdgeresError("--map-by-position applies to --data: give the labeled images too")
        unknown = [name for name in self.formats if name not in registry.names()]
        if unknown:
            raise EdgeresError(f"--formats: {unknown[0]!r} is not a format; choose among {', '.join(registry.names())}")
        for fraction in self.prune:
            if not 0.0 < fraction < 1.0:
                raise EdgeresError(f"--prune takes fractions of the unpruned latency in (0, 1); got {fraction}")
        if not self.prune and (self.finetune is not None or self.finetune_limit is not None):
            raise EdgeresError("--finetune and --finetune-limit apply to --prune: give the latency fractions too")
        if self.round_to is not None and (self.round_to < 1 or not self.prune):
            raise EdgeresError(f"--round-to applies to --prune and is 1 or more, got {self.round_to}")
        if self.epochs < 1:
            raise EdgeresError(f"--epochs must be 1 or more, got {self.epochs}")
        if self.optimize not in ("none", "fast", "best"):
            raise EdgeresError(f"--optimize must be none, fast or best, got {self.optimize!r}")
