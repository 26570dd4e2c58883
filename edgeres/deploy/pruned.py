"""`deploy --prune`: latency-pruned variants of the model, each pruned to a fraction of the unpruned model's
latency as timed in the deployment the screen found fastest (its format, runtime, recipe and threads, on the
target itself), fine-tuned where training images are given, then made into candidates like the model."""

from __future__ import annotations

from pathlib import Path

from ..formats import registry as formats
from ..latency.setting import LatencySetting
from ..prune.job import prune_checkpoint
from ..prune.latency_goal import LatencyTarget
from ..prune.options import FinetuneOptions
from ..prune.settings import PruneSettings
from ..runtimes import registry as runtimes
from .candidates import Measured
from .context import Run

PRUNED_MODEL = "model.safetensors"


def variant_folder(run: Run, fraction: float) -> Path:
    return run.files / f"pruned-{fraction:g}"


def latency_setting(rows: list[Measured], run: Run) -> LatencySetting:
    """How the goal is timed: the fastest int8 candidate's format and runtime where latency probes exist for
    its format (else the default format in its own runtime), the target's recipe, threads and board."""
    probed = [r for r in rows if r.candidate.precision == "int8" and r.candidate.fmt in formats.probe_names()]
    board = run.target.name if run.target.transport == "ssh" else None
    threads = run.target.threads or None
    if not probed:
        return LatencySetting(formats.DEFAULT, "int8", run.recipe, threads=threads, board=board)
    fastest = min(probed, key=lambda r: r.p50).candidate
    runtime = fastest.runtime if fastest.fmt in runtimes.named(fastest.runtime).formats else None
    return LatencySetting(fastest.fmt, "int8", run.recipe, runtime, threads, board)


def pruned_model(fraction: float, setting: LatencySetting, run: Run) -> Path:
    """The checkpoint pruned to `fraction` of the latency in `setting` (fine-tuned on `settings.finetune`);
    one a resumed run made before is kept."""
    folder = variant_folder(run, fraction)
    out = folder / PRUNED_MODEL
    if out.is_file():
        return out
    folder.mkdir(exist_ok=True)
    settings = run.settings
    prune = PruneSettings(
        target_latency=LatencyTarget(fraction, setting, settings.round_to),
        finetune_data=str(settings.finetune) if settings.finetune is not None else None,
        finetune=FinetuneOptions(epochs=settings.epochs, limit=settings.finetune_limit),
        map_by_position=settings.map_by_position,
        load=settings.load,
    )
    result = prune_checkpoint(run.model, out, prune)
    if result is not None:
        run.notes += [f"pruned to {fraction:g}: {warning}" for warning in result.warnings]
    return out


def source_of(file: Path, run: Run) -> Path:
    """The PyTorch model a candidate file was made from: the model, or the pruned checkpoint beside it."""
    return run.model if file.parent == run.files else file.parent / PRUNED_MODEL
