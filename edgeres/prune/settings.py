"""Everything one prune job is asked to do, as one frozen, validated object: what `edgeres prune`'s flags and the
pipeline's [prune] section both build, and what torchrun ranks receive as JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import EdgeresError
from ..options import DEVICES, LoadOptions
from .latency_goal import LatencyTarget
from .options import FinetuneOptions, PruneOptions


@dataclass(frozen=True, kw_only=True)  # built by keyword: no silent swap of two settings
class PruneSettings:
    """One prune job. The goal is `options.ratio`, or `target_macs` (a fraction of the MACs to keep), or
    `target_latency`; fine-tuning runs with `finetune_data` (on `device`), `resume` continues it; `eval_data`
    scores both models, `bench` times their exports side by side; `load` reads the checkpoint."""

    options: PruneOptions = field(default_factory=PruneOptions)
    target_macs: float | None = None
    target_latency: LatencyTarget | None = None
    importance_data: str | None = None  # labeled images for --importance taylor
    finetune_data: str | None = None
    finetune: FinetuneOptions = field(default_factory=FinetuneOptions)
    resume: bool = False
    eval_data: str | None = None
    eval_limit: int | None = None
    map_by_position: bool = False
    bench: bool = False
    force: bool = False
    device: str = "cpu"
    load: LoadOptions = field(default_factory=LoadOptions)

    def __post_init__(self) -> None:
        if self.target_macs is not None and self.target_latency is not None:
            raise EdgeresError("give one of --target-macs and --target-latency, not both")
        if self.target_latency is not None and self.options.global_pruning:
            raise EdgeresError("--global ranks channels for --ratio/--target-macs; --target-latency ranks globally")
        if self.target_macs is not None and not 0.0 < self.target_macs < 1.0:
            raise EdgeresError(f"--target-macs is a fraction of the MACs to keep, in (0, 1); got {self.target_macs}")
        if self.device not in DEVICES:
            raise EdgeresError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.device != "cpu" and self.finetune_data is None:
            raise EdgeresError(f"--device {self.device} is where fine-tuning runs: give --finetune DIR too")
        if self.resume and self.finetune_data is None:
            raise EdgeresError("--resume continues fine-tuning: give --finetune DIR (the same as before)")
        if self.eval_limit is not None and self.eval_data is None:
            raise EdgeresError("--eval-limit applies to --eval DIR: give the labeled images too")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (torchrun ranks rebuild the settings from it with `from_dict`)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["options"], data["finetune"] = dataclasses.asdict(self.options), dataclasses.asdict(self.finetune)
        data["target_latency"] = self.target_latency.to_dict() if self.target_latency is not None else None
        data["load"] = self.load.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PruneSettings:
        """Rebuild from `to_dict`; an unknown key is an error."""
        fields = dict(data)
        unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise EdgeresError(f"unknown prune settings {unknown}")
        fields["options"] = PruneOptions(**fields.get("options", {}))
        fields["finetune"] = FinetuneOptions(**fields.get("finetune", {}))
        latency = fields.get("target_latency")
        fields["target_latency"] = LatencyTarget.from_dict(latency) if latency is not None else None
        fields["load"] = LoadOptions.from_dict(fields.get("load", {}))
        return cls(**fields)
