"""`edgeres prune` as one library call: load, prune, fine-tune (resumable), save, compare, report."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_outputs, require_new, scratch_folder
from .._lock import writes
from ..card import ModelCard
from ..errors import EdgeresError
from ..evaluate import LabeledData
from ..models import ArchSpec, LoadedModel, build_model, load_model, save_model
from ..options import LoadOptions
from ..progress import Progress
from ..summary import summarize
from .compare import compare_accuracy, compare_latency
from .distributed import Ranks, from_main, keeping, process_group
from .finetune import FinetuneLog, finetune, read_state, saved_state
from .latency_goal import LatencyTarget
from .latency_target import prune_to_latency
from .options import PruneOptions
from .report import PruneResult, accuracy_warning, mac_warning, rewrite_warnings
from .settings import PruneSettings
from .structured import GradientBatches, prune_model
from .torchrun_env import launched_by_torchrun
from .training_batches import TrainingBatches, load_training_images

DEPTH_IMAGES = 256  # training images that measure which residual blocks a latency target may remove


def _facts(loaded: LoadedModel, file: Path) -> dict[str, Any]:
    summary = summarize(loaded.model, loaded.card)
    # file_bytes depends on the file's dtype (a float16 checkpoint is half the size); fp32 weights compare.
    facts = {"params": summary.params, "macs": summary.macs, "weight_bytes_fp32": 4 * summary.params}
    return facts | {"file_bytes": file.stat().st_size}


def _check_classes(
    card: ModelCard,
    labeled: LabeledData | None,
    finetune_data: str | os.PathLike[str] | None,
    importance_data: str | os.PathLike[str] | None,
    by_position: bool,
) -> None:
    """Every labeled input meets the model's classes (DataError otherwise), before any pruning or training."""
    if by_position and labeled is None and finetune_data is None and importance_data is None:
        raise EdgeresError("--map-by-position applies to labeled images: give --eval, --finetune or --data")
    if labeled is not None:
        labeled.check(card)
    for data in (finetune_data, importance_data):
        if data is not None:
            LabeledData(data, by_position=by_position).check(card, split="train")


def _taylor_batches(
    data: str | os.PathLike[str], card: ModelCard, by_position: bool, count: int = 512
) -> GradientBatches:
    x, y, _ = load_training_images(data, card, count, seed=0, by_position=by_position)
    batches = TrainingBatches(x, y, card, 64)
    return lambda: ((images, labels) for images, labels, _ in batches.epoch(torch.Generator().manual_seed(0)))


def state_file(out: Path) -> Path:
    """Where fine-tuning a pruned model to `out` keeps its resumable state."""
    return out.with_name(out.name + ".finetune.pt")


def _request(options: PruneOptions, goal: float | LatencyTarget | None) -> dict[str, Any]:
    """What the user asked to prune to, as saved with the training state and compared on --resume."""
    target = goal.to_dict() if isinstance(goal, LatencyTarget) else goal
    request: dict[str, Any] = json.loads(json.dumps({**asdict(options), "goal": target}))  # as JSON reads it back
    return request


def _same_request(state: dict[str, Any], request: dict[str, Any], state_path: Path) -> None:
    """EdgeresError naming each setting that differs from the one the saved state was pruned with."""
    saved = json.loads(state.get("request", "null"))
    if saved is None:  # a state saved before requests were recorded: nothing to compare
        return
    differing = [f"{key} {request.get(key)!r} (saved: {saved.get(key)!r})" for key in sorted(set(saved) | set(request))
                 if saved.get(key) != request.get(key)]  # fmt: skip
    if differing:
        raise EdgeresError(
            f"{state_path}: was saved by a run with other prune settings: {'; '.join(differing)}; resume with the "
            "saved settings, or run without --resume to start over"
        )


def _pruned_or_resumed(
    loaded: LoadedModel,
    state_path: Path,
    resume: bool,
    options: PruneOptions,
    goal: float | LatencyTarget | None,
    importance_data: str | os.PathLike[str] | None,
    depth_data: str | os.PathLike[str] | None,
    by_position: bool,
    progress: Progress | None,
) -> tuple[LoadedModel, PruneOptions, dict[str, Any] | None]:
    """The pruned model, its options and latency plan: rebuilt from a saved training state under --resume,
    else pruned now (to a MAC fraction, a latency target, or by the options' ratio)."""
    if resume:
        if not state_path.exists():
            raise EdgeresError(
                f"--resume: no saved fine-tuning state at {state_path} (no interrupted run of this --out); "
                "run without --resume"
            )
        state = read_state(state_path)
        _same_request(state, _request(options, goal), state_path)
        spec = ArchSpec.from_dict(json.loads(state["spec"]), str(state_path))
        card = ModelCard.from_dict(json.loads(state["card"]), str(state_path))
        effective = PruneOptions(**json.loads(state["prune_options"]))
        plan = json.loads(state["latency_plan"]) if "latency_plan" in state else None
        return LoadedModel(build_model(spec), card, spec), effective, plan
    gradients = _taylor_batches(importance_data, loaded.card, by_position) if importance_data else None
    if isinstance(goal, LatencyTarget):
        images = None
        if depth_data is not None and goal.allow_depth:
            images = load_training_images(depth_data, loaded.card, DEPTH_IMAGES, seed=0, by_position=by_position)[0]
        pruned, effective, latency_plan = prune_to_latency(
            loaded, goal, options, gradients=gradients, images=images, progress=progress
        )
        return pruned, effective, asdict(latency_plan)
    pruned, effective = prune_model(loaded, options=options, target_macs=goal, gradients=gradients)
    return pruned, effective, None


@writes("out")
def prune_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    settings: PruneSettings | None = None,
    *,
    progress: Progress | None = None,
    train_progress: Callable[[int, int, int, float, float], None] | None = None,
) -> PruneResult | None:
    """Prune `checkpoint` as `settings` say and write a self-contained model file to `out` (plus
    `<out>.report.json`).

    Fine-tuning (with `settings.finetune_data`, on `settings.device`) saves its state after every epoch to
    `<out>.finetune.pt`; `resume` continues from it. Under torchrun every process calls this: rank 0 prunes,
    the ranks fine-tune together (distributed.py), and rank 0 alone writes and returns the result; the others
    return None. `bench` times exports of both models side by side (int8 calibrated on `eval_data` or
    `finetune_data`). A latency goal chooses widths by latency measured on this machine or the board it
    names (edgeres.prune.latency_target). Raises OutputExistsError before any work when `out` exists.
    """
    settings = settings or PruneSettings()
    if Path(out).suffix.lower() != ".safetensors":  # what load_model reads back by that name
        raise EdgeresError(f"{out}: prune writes a .safetensors model file; name --out accordingly")
    if launched_by_torchrun() and settings.finetune_data is None:
        raise EdgeresError("several processes (torchrun) fine-tune together: give --finetune DIR")
    require_new(Path(out), force=settings.force)
    with process_group(settings.device) as ranks, keeping(saved_state(state_file(Path(out)))):
        return _prune_job(Path(checkpoint), Path(out), ranks, settings, progress, train_progress)


def _prune_job(
    source: Path,
    target: Path,
    ranks: Ranks,
    settings: PruneSettings,
    progress: Progress | None,
    train_progress: Callable[[int, int, int, float, float], None] | None,
) -> PruneResult | None:
    timer, seconds = time.perf_counter(), {}
    loaded = load_model(source, settings.load)
    labeled = None
    if settings.eval_data is not None:
        labeled = LabeledData(settings.eval_data, settings.eval_limit, settings.map_by_position)
    importance_data, finetune_data = settings.importance_data, settings.finetune_data
    _check_classes(loaded.card, labeled, finetune_data, importance_data, settings.map_by_position)
    state_path = state_file(target)
    if importance_data is None and settings.options.importance == "taylor":
        importance_data = finetune_data
    goal = settings.target_latency if settings.target_latency is not None else settings.target_macs
    depth_data = importance_data or finetune_data
    pruned, options, plan = from_main(
        ranks,
        lambda: _pruned_or_resumed(
            loaded, state_path, settings.resume, settings.options, goal, importance_data, depth_data,
            settings.map_by_position, progress,
        ),
    )  # fmt: skip
    seconds["prune"] = time.perf_counter() - timer
    log = None
    if finetune_data is not None:
        timer = time.perf_counter()
        log = _finetune(loaded, pruned, options, plan, settings, state_path, ranks, train_progress)
        seconds["finetune"] = time.perf_counter() - timer
    if not ranks.main:  # rank 0 writes, compares and reports
        return None
    result = PruneResult(
        target, target.with_name(target.name + ".report.json"), pruned.spec.name, options.ratio,
        settings.target_macs, options, _facts(loaded, source), {}, log, seconds=seconds,
        target_latency=settings.target_latency.fraction if settings.target_latency is not None else None,
        latency_plan=plan,
    )  # fmt: skip
    result.warnings += rewrite_warnings(settings, options)
    _save_and_report(result, source, pruned, labeled, settings, plan, progress)
    state_path.unlink(missing_ok=True)
    return result


def _finetune(
    loaded: LoadedModel,
    pruned: LoadedModel,
    options: PruneOptions,
    plan: dict[str, Any] | None,
    settings: PruneSettings,
    state_path: Path,
    ranks: Ranks,
    train_progress: Callable[[int, int, int, float, float], None] | None,
) -> FinetuneLog:
    """Fine-tune the pruned model (distilling from the unpruned one when asked), saving a resumable state."""
    assert settings.finetune_data is not None, "called only with training images"
    extra = {
        "spec": json.dumps(pruned.spec.to_dict()),
        "card": pruned.card.to_json(),
        "prune_options": json.dumps(asdict(options)),
        "request": json.dumps(_request(settings.options, settings.target_latency or settings.target_macs)),
    } | ({"latency_plan": json.dumps(plan)} if plan is not None else {})
    return finetune(
        pruned.model,
        pruned.card,
        settings.finetune_data,
        settings.finetune,
        state_path=state_path,
        state_extra=extra,
        teacher=loaded.model if settings.finetune.distill else None,
        resume=settings.resume,
        progress=train_progress,
        by_position=settings.map_by_position,
        ranks=ranks,
    )


def _save_and_report(
    result: PruneResult,
    source: Path,
    pruned: LoadedModel,
    labeled: LabeledData | None,
    settings: PruneSettings,
    plan: dict[str, Any] | None,
    progress: Progress | None,
) -> None:
    """Save the pruned model, compare it with the original, and move it and its report into place."""
    target = result.out
    with scratch_folder(target) as work:
        made = save_model(pruned.model, pruned.spec, pruned.card, work / target.name, force=True)
        result.after = _facts(pruned, made)
        result.warnings += [w for w in [mac_warning(result)] if w]
        _compare(result, source, made, labeled, settings.bench, settings.finetune_data, settings.load, progress)
        result.warnings += [w for w in [accuracy_warning(result.top1, settings.finetune_data is not None)] if w]
        result.warnings += [plan["warning"]] if plan and plan.get("warning") else []
        with atomic_outputs([target, result.report_path], force=settings.force) as temps:
            os.replace(made, temps[0])
            temps[1].write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")


def _compare(
    result: PruneResult,
    source: Path,
    pruned: Path,
    labeled: LabeledData | None,
    bench: bool,
    finetune_data: str | os.PathLike[str] | None,
    load_options: LoadOptions,
    progress: Progress | None,
) -> None:
    timer = time.perf_counter()
    if bench:
        calib = labeled.path if labeled else finetune_data
        result.latency = compare_latency(
            source, pruned, calib=calib, data=labeled, load_options=load_options, progress=progress
        )
        result.seconds["bench"] = time.perf_counter() - timer
    if labeled is not None:
        result.top1 = compare_accuracy(source, pruned, labeled, load_options)
        result.seconds["eval"] = time.perf_counter() - timer
