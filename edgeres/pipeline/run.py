"""`edgeres pipeline`: checkpoint -> (prune + fine-tune) -> export -> int8 per target recipe -> bench on every
target -> report.html, each stage skipped when its inputs and settings are unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._lock import writes
from ..formats import registry
from ..progress import Progress
from .config import PipelineConfig, load_config
from .joint import BEFORE_QAT, file_qat, joint, joint_qat
from .manifest import check_run_folder
from .stage_runner import StageRunner
from .stages import (
    PRUNED,
    bench_stage,
    deploy_stage,
    export_stage,
    prune_stage,
    quantize_stage,
    report_stage,
    stage_warnings,
)


@dataclass
class PipelineResult:
    out: Path
    manifest: Path
    report: Path
    ran: list[str]
    skipped: list[str]
    bench: dict[str, Any]
    warnings: list[str]
    deployed: dict[str, dict[str, Any]]  # per variant: what `edgeres deploy` chose ([deploy] enabled)


def _recipes(config: PipelineConfig) -> list[str]:
    """One int8 recipe target per distinct CPU kind among the bench targets (`auto` resolved per target)."""
    from ..quantize.recipe_target import for_profile
    from ..remote import resolve_target

    return sorted({for_profile(resolve_target(t)).target for t in config["bench"]["targets"]})


@writes("out")
def run_pipeline(
    config_path: str | Path,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> PipelineResult:
    """Run every enabled stage into `out` (absent, empty, or an earlier run's; any folder with `force`); raises
    ConfigError, OutputExistsError, the stages' EdgeresErrors, KeyboardInterrupt."""
    config = load_config(config_path)
    recipes = _recipes(config)  # every target resolved before any work: a bad name fails now, not at the bench
    folder = Path(out)
    check_run_folder(folder, force)
    (folder / "files").mkdir(parents=True, exist_ok=True)
    runner = StageRunner(config, folder, progress or (lambda _p, _d, _t: None))
    runner.manifest.save()  # the folder is a run's from now on, even when this one is interrupted
    variants = {"original": Path(config["model"]["checkpoint"])}
    prune, made = None, {}
    if config["prune"]["enabled"]:
        prune = prune_stage(runner, variants["original"], resume)
        variants["pruned"] = folder / "models" / PRUNED
        if joint(config):  # its first int8 file ends its fine-tuning, and saves the checkpoint the rest start from
            first = (config["export"]["formats"][0], recipes[0])
            fp32 = folder / "files" / f"pruned{registry.named(first[0]).suffix}"  # not read: QAT starts from the model
            ends = joint_qat(config, resume, variants["pruned"])
            made[first] = quantize_stage(runner, "pruned", folder / "models" / BEFORE_QAT, fp32, *first, ends)
    files: list[Path] = []
    summaries, qat = {}, file_qat(config, resume)
    for variant, source in variants.items():
        for fmt in config["export"]["formats"]:
            record = export_stage(runner, variant, source, fmt)
            fp32 = folder / "files" / f"{variant}{registry.named(fmt).suffix}"
            summaries[fp32.name] = record["meta"]
            files.append(fp32)
            if config["quantize"]["enabled"]:
                for recipe in recipes:
                    done = made.get((fmt, recipe)) if variant == "pruned" else None
                    files.append(done or quantize_stage(runner, variant, source, fp32, fmt, recipe, qat))
    bench = bench_stage(runner, files)
    deployed = {}
    if config["deploy"]["enabled"]:
        deployed = {variant: deploy_stage(runner, variant, source)["meta"] for variant, source in variants.items()}
    warnings = stage_warnings(runner)
    report = report_stage(runner, files, summaries, prune, warnings)
    return PipelineResult(folder, runner.manifest.path, report, runner.ran, runner.skipped, bench, warnings, deployed)
