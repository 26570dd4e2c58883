"""The pipeline's stages. Each returns (output files, metadata) and writes its files atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._io import write_text_atomic
from ..formats import registry
from ..models.loader import source_files
from ..options import LoadOptions
from ..prune.options import FinetuneOptions, PruneOptions, channel_multiple
from ..prune.settings import PruneSettings
from .joint import BEFORE_QAT, float_epochs, joint, prune_key
from .stage_runner import StageRunner, load_options

if TYPE_CHECKING:
    from .joint import Qat

PRUNED = "pruned.safetensors"  # the pruned variant, in the run's models/ folder


def prune_stage(runner: StageRunner, source: Path, resume: bool) -> dict[str, Any]:
    from ..prune.launch import PruneJob, prune_with_torchrun

    settings = dict(runner.config["prune"]) | prune_key(runner.config)
    settings["evaluation"] = [runner.config["data"][k] for k in ("evaluation", "evaluation_images")]
    out = runner.out / "models" / (BEFORE_QAT if joint(runner.config) else PRUNED)
    train = settings["train"] or None
    job = PruneJob(source, out, prune_settings(runner, resume, out))

    def run() -> tuple[list[Path], dict[str, Any]]:
        if settings["processes"] > 1 and job.settings.finetune_data:  # the same call on each rank torchrun starts
            report = prune_with_torchrun(settings["processes"], job)
            return [out, Path(report["report_path"])], report
        from ..prune.job import prune_checkpoint

        result = prune_checkpoint(job.checkpoint, job.out, job.settings)
        assert result is not None, "one process is rank 0"
        return [out, result.report_path], result.to_dict()

    inputs = source_files(source) + ([Path(train)] if train and Path(train).is_file() else [])
    return runner.stage("prune", settings, inputs, run)


def prune_settings(runner: StageRunner, resume: bool, out: Path) -> PruneSettings:
    """The [prune] section as the PruneSettings `edgeres prune` would build from the same choices (its float
    epochs fewer by those QAT runs when the two are one fine-tuning, none when that leaves none)."""
    from ..prune.job import state_file
    from ..prune.latency_goal import latency_goal_for_profile

    prune, data = runner.config["prune"], runner.config["data"]
    given = runner.config.given
    goal = None
    if prune["target_latency"]:
        profile = prune["latency_target"] or runner.config["bench"]["targets"][0]
        round_to = prune["round_to"] if ("prune", "round_to") in given else None  # None: measured, as the CLI
        goal = latency_goal_for_profile(
            prune["target_latency"], prune["latency_precision"], profile, not prune["keep_depth"], round_to
        )
    epochs = float_epochs(runner.config)
    train = (prune["train"] or None) if epochs else None
    return PruneSettings(
        options=PruneOptions(importance=prune["importance"], round_to=channel_multiple(prune["round_to"])),
        target_macs=None if goal else prune["target_macs"],  # config.py refuses both given
        target_latency=goal,
        finetune_data=train,
        finetune=FinetuneOptions(
            epochs=max(epochs, 1), lr=prune["lr"], distill=prune["distill"], limit=prune["train_images"] or None
        ),
        resume=resume and train is not None and state_file(out).is_file(),
        eval_data=data["evaluation"],
        eval_limit=data["evaluation_images"] or None,
        map_by_position=data["map_by_position"],
        force=True,
        device=prune["device"] if train else "cpu",
        load=load_options(runner.config),
    )


def export_stage(runner: StageRunner, variant: str, source: Path, fmt: str) -> dict[str, Any]:
    """The variant's fp32 file, also kept in the export cache: the quantize stages of the same model start from
    that export instead of making it again."""
    from ..export import export_model
    from ..export.cache import remember_export
    from ..inspection import inspect_checkpoint
    from ..models import load_model

    out = runner.out / "files" / f"{variant}{registry.named(fmt).suffix}"
    options = _load_options(runner, variant)

    def job() -> tuple[list[Path], dict[str, Any]]:
        loaded = load_model(source, options)
        result = export_model(loaded, out, force=True)
        remember_export(loaded, out, fmt)
        summary = inspect_checkpoint(source, options).summary
        meta = {"params": summary.params, "macs": summary.macs, "file_bytes": result.file_bytes}
        return [out, result.report_path, out.with_name(out.name + ".card.json")], meta

    return runner.stage(
        f"export:{variant}:{fmt}", {"format": fmt, **_load_key(runner, variant)}, source_files(source), job
    )


def quantize_stage(
    runner: StageRunner, variant: str, source: Path, fp32: Path, fmt: str, recipe: str, qat: Qat | None = None
) -> Path:
    """Int8 from the variant's PyTorch model when preparation or the format's engine needs its weights (QAT
    does), else from its fp32 file. `qat`: how that file is fine-tuned, when [quantize] qat is set."""
    from ..quantize import QuantizeSettings, quantize_model
    from ..quantize.source import needs_model

    data, gate = runner.config["data"], runner.config["quantize"]["max_drop"]
    optimize = runner.config["quantize"]["optimize"]
    from_model = qat is not None or needs_model(fmt, optimize)
    model, options = (source, _load_options(runner, variant)) if from_model else (fp32, LoadOptions())
    out = runner.out / "files" / f"{variant}_int8_{recipe}{registry.named(fmt).suffix}"
    settings = {"recipe": recipe, "num": data["calibration_images"], "calibration": data["calibration"]}
    settings |= {"max_drop": gate, "map_by_position": data["map_by_position"], "optimize": optimize}
    settings |= qat.key() if qat else {}  # only then in the key: runs recorded before QAT existed stay unchanged
    inputs = source_files(model) + (source_files(Path(qat.settings.teacher)) if qat and qat.settings.teacher else [])

    def job() -> tuple[list[Path], dict[str, Any]]:
        result = quantize_model(
            model,
            out,
            QuantizeSettings(
                calib=data["calibration"],
                fmt=fmt,
                target=recipe,
                num=data["calibration_images"],
                eval_data=data["evaluation"] if gate else None,  # scored only for the gate
                eval_limit=(data["evaluation_images"] or None) if gate else None,
                max_drop=gate or None,
                map_by_position=data["map_by_position"] and bool(gate),
                optimize=optimize,
                force=True,
                load=options,
                qat=qat.settings_for(out) if qat else None,
            ),
        )
        meta = {"sensitivity": result.to_dict()["sensitivity"][:10], "warnings": result.warnings}
        meta |= {"optimize": result.to_dict()["optimize"], **({"qat": result.qat} if qat else {})}
        outputs = [out, result.report_path, out.with_name(out.name + ".card.json")]
        return outputs + ([qat.keep_trained(result)] if qat and qat.keep else []), meta

    runner.stage(f"quantize:{variant}:{fmt}:{recipe}", settings, inputs, job)
    return out


def _load_options(runner: StageRunner, variant: str) -> LoadOptions:
    return load_options(runner.config) if variant == "original" else LoadOptions()


def _load_key(runner: StageRunner, variant: str) -> dict[str, Any]:
    """What of the load options goes into an export stage's key (as earlier versions' run folders recorded it)."""
    options = _load_options(runner, variant)
    return {"arch": options.arch, "trust": options.trust} if variant == "original" else {}


def bench_stage(runner: StageRunner, files: list[Path]) -> dict[str, Any]:
    from ..bench import TimingConfig
    from ..remote import SCHEMA, TargetRunOptions, bench_targets
    from ..report import write_reports

    settings, data = dict(runner.config["bench"]), runner.config["data"]
    out = runner.out / "bench" / "targets.json"

    def job() -> tuple[list[Path], dict[str, Any]]:
        timing = TimingConfig(settings["warmup"], settings["min_runs"], settings["min_seconds"])
        options = TargetRunOptions(
            data=data["evaluation"], limit=data["evaluation_images"] or None, map_by_position=data["map_by_position"],
            batches=tuple(settings["batches"]), timing=timing,
        )  # fmt: skip
        results = bench_targets(files, settings["targets"], options)
        record = {"schema": SCHEMA, "targets": [r.to_dict() for r in results]}
        outputs = [write_text_atomic(out, json.dumps(record, indent=2), force=True)]
        for result in results:
            for run in result.runs[:1]:
                outputs += write_reports(run, report_dir=runner.out / "bench" / _safe(result.target.name))
        errors = [r.error for r in results if r.error]
        return outputs, {"errors": errors}

    evaluation = {k: data[k] for k in ("evaluation", "evaluation_images", "map_by_position")}
    runner.stage("bench", settings | evaluation, files, job)
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def stage_warnings(runner: StageRunner) -> list[str]:
    """What the prune and quantize stages warned about (e.g. a pruned model far below the original), by stage."""
    return [
        f"{name}: {warning}"
        for name, record in runner.manifest.stages.items()
        if name.startswith(("prune", "quantize:"))
        for warning in record["meta"].get("warnings", [])
    ]


def report_stage(
    runner: StageRunner,
    files: list[Path],
    summaries: dict[str, dict[str, Any]],
    prune: dict[str, Any] | None,
    warnings: list[str],
) -> Path:
    from .html import render
    from .manifest import versions

    out = runner.out / "report.html"
    bench = json.loads((runner.out / "bench" / "targets.json").read_text())
    plots = sorted((runner.out / "bench").glob("*/*.png"))
    sensitivity = {
        name.split(":", 1)[1]: record["meta"]["sensitivity"]
        for name, record in runner.manifest.stages.items()
        if name.startswith("quantize:")
    }
    meta = {"config": runner.config.source.name, **versions()}

    def job() -> tuple[list[Path], dict[str, Any]]:
        page = render(
            "edgeres pipeline report", meta, bench, summaries, plots, sensitivity, (prune or {}).get("meta"), warnings
        )
        return [write_text_atomic(out, page, force=True)], {}

    inputs = [runner.out / "bench" / "targets.json", *plots]
    runner.stage("report", {"summaries": summaries, "sensitivity": sensitivity, "warnings": warnings}, inputs, job)
    return out


def deploy_stage(runner: StageRunner, variant: str, source: Path) -> dict[str, Any]:
    """`edgeres deploy` for one variant on [deploy] target, bound on top-1 of the evaluation subset."""
    from ..deploy.run import deploy_model
    from ..deploy.settings import DeploySettings

    data, deploy = runner.config["data"], runner.config["deploy"]
    out = runner.out / "deploy" / variant
    settings = {k: deploy[k] for k in ("max_drop", "finalists", "optimize", "target")}
    settings["formats"] = runner.config["export"]["formats"]
    settings |= {"calibration": data["calibration"], "evaluation": data["evaluation"]}
    settings |= {"images": data["evaluation_images"], "map_by_position": data["map_by_position"]}

    def job() -> tuple[list[Path], dict[str, Any]]:
        result = deploy_model(
            source,
            out,
            DeploySettings(
                target=deploy["target"], calib=data["calibration"], formats=tuple(runner.config["export"]["formats"]),
                num=data["calibration_images"] or 256, data=data["evaluation"],
                limit=data["evaluation_images"] or None, map_by_position=data["map_by_position"],
                max_drop=deploy["max_drop"], finalists=deploy["finalists"], optimize=deploy["optimize"],
                force=True, load=_load_options(runner, variant),
            ),
        )  # fmt: skip
        record = json.loads((result.out / "deploy.json").read_text(encoding="utf-8"))
        meta = {k: record[k] for k in ("file", "format", "runtime", "settings", "p50_ms", "accuracy", "reference")}
        return [out / "deploy.json", out / "report.json", out / record["file"]], meta

    return runner.stage(f"deploy:{variant}", settings, source_files(source), job)
