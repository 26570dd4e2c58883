"""`edgeres prune` as one library call: load, prune, fine-tune (resumable), save, compare, report."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._io import write_text_atomic
from ..card import ModelCard
from ..errors import EdgeresError, OutputExistsError
from ..models import ArchSpec, LoadedModel, build_model, load_model, save_model
from ..summary import summarize
from .compare import compare_accuracy, compare_latency
from .finetune import FinetuneLog, FinetuneOptions, TrainingBatches, finetune, load_training_images, read_state
from .structured import GradientBatches, PruneOptions, prune_model

Progress = Callable[[str, int, int], None]


@dataclass
class PruneResult:
    out: Path
    report_path: Path
    arch: str
    ratio: float
    target_macs: float | None
    options: PruneOptions
    before: dict[str, Any]
    after: dict[str, Any]
    finetune: FinetuneLog | None = None
    top1: dict[str, float] | None = None
    latency: list[dict[str, Any]] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("options", "finetune")}
        data |= {"out": str(self.out), "report_path": str(self.report_path), "options": asdict(self.options)}
        data["finetune"] = self.finetune.to_dict() if self.finetune else None
        return data


def _facts(loaded: LoadedModel, file: Path) -> dict[str, Any]:
    summary = summarize(loaded.model, loaded.card)
    # file_bytes depends on the file's dtype (a float16 checkpoint is half the size); fp32 weights compare.
    facts = {"params": summary.params, "macs": summary.macs, "weight_bytes_fp32": 4 * summary.params}
    return facts | {"file_bytes": file.stat().st_size}


def _taylor_batches(data: str | os.PathLike[str], card: ModelCard, count: int = 512) -> GradientBatches:
    x, y, _ = load_training_images(data, card, count, seed=0)
    batches = TrainingBatches(x, y, card, 64)
    return lambda: batches.epoch(torch.Generator().manual_seed(0))


def _pruned_or_resumed(
    loaded: LoadedModel,
    state_path: Path,
    resume: bool,
    options: PruneOptions,
    target_macs: float | None,
    importance_data: str | os.PathLike[str] | None,
) -> tuple[LoadedModel, PruneOptions]:
    """The pruned model: rebuilt from a saved training state under --resume, else pruned now."""
    if resume and state_path.exists():
        state = read_state(state_path)
        spec = ArchSpec.from_dict(json.loads(state["spec"]), str(state_path))
        card = ModelCard.from_dict(json.loads(state["card"]), str(state_path))
        effective = PruneOptions(**json.loads(state["prune_options"]))
        return LoadedModel(build_model(spec), card, spec), effective
    gradients = _taylor_batches(importance_data, loaded.card) if importance_data else None
    return prune_model(loaded, options=options, target_macs=target_macs, gradients=gradients)


def prune_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    options: PruneOptions | None = None,
    target_macs: float | None = None,
    importance_data: str | os.PathLike[str] | None = None,
    finetune_data: str | os.PathLike[str] | None = None,
    finetune_options: FinetuneOptions | None = None,
    resume: bool = False,
    eval_data: str | os.PathLike[str] | None = None,
    eval_limit: int | None = None,
    bench: bool = False,
    force: bool = False,
    load_options: dict[str, Any] | None = None,
    progress: Progress | None = None,
    train_progress: Callable[[int, int, int, float, float], None] | None = None,
) -> PruneResult:
    """Prune `checkpoint` and write a self-contained model file to `out` (plus `<out>.report.json`).

    Fine-tuning (with `finetune_data`) saves its state after every epoch to `<out>.finetune.pt`; `resume`
    continues from it. `bench` times ONNX fp32/int8 exports of both models side by side (int8 calibrated on
    `eval_data` or `finetune_data`). Raises OutputExistsError before any work when `out` exists.
    """
    source, target = Path(checkpoint), Path(out)
    if target.exists() and not force:
        raise OutputExistsError(f"{target}: already exists; pass --force to overwrite it or choose another --out")
    options, load_options = options or PruneOptions(), load_options or {}
    timer, seconds = time.perf_counter(), {}
    loaded = load_model(source, **load_options)
    state_path = target.with_name(target.name + ".finetune.pt")
    if importance_data is None and options.importance == "taylor":
        importance_data = finetune_data
    pruned, options = _pruned_or_resumed(loaded, state_path, resume, options, target_macs, importance_data)
    seconds["prune"] = time.perf_counter() - timer
    log = None
    if finetune_data is not None:
        timer = time.perf_counter()
        ft = finetune_options or FinetuneOptions()
        extra = {
            "spec": json.dumps(pruned.spec.to_dict()),
            "card": pruned.card.to_json(),
            "prune_options": json.dumps(asdict(options)),
        }
        teacher = loaded.model if ft.distill else None
        log = finetune(
            pruned.model,
            pruned.card,
            finetune_data,
            ft,
            state_path=state_path,
            state_extra=extra,
            teacher=teacher,
            resume=resume,
            progress=train_progress,
        )
        seconds["finetune"] = time.perf_counter() - timer
    elif resume:
        raise EdgeresError("--resume continues fine-tuning: give --finetune DIR (the same as before)")
    save_model(pruned.model, pruned.spec, pruned.card, target, force=force)
    state_path.unlink(missing_ok=True)
    result = PruneResult(
        target,
        target.with_name(target.name + ".report.json"),
        pruned.spec.name,
        options.ratio,
        target_macs,
        options,
        _facts(loaded, source),
        _facts(pruned, target),
        log,
        seconds=seconds,
    )
    _compare(result, source, eval_data, eval_limit, bench, finetune_data, load_options, progress)
    write_text_atomic(result.report_path, json.dumps(result.to_dict(), indent=2), force=True)
    return result


def _compare(
    result: PruneResult,
    source: Path,
    eval_data: str | os.PathLike[str] | None,
    eval_limit: int | None,
    bench: bool,
    finetune_data: str | os.PathLike[str] | None,
    load_options: dict[str, Any],
    progress: Progress | None,
) -> None:
    timer = time.perf_counter()
    if bench:
        calib = eval_data or finetune_data
        result.latency = compare_latency(
            source,
            result.out,
            calib=calib,
            data=eval_data,
            limit=eval_limit,
            load_options=load_options,
            progress=progress,
        )
        result.seconds["bench"] = time.perf_counter() - timer
    if eval_data is not None:
        result.top1 = compare_accuracy(source, result.out, eval_data, eval_limit, load_options)
        result.seconds["eval"] = time.perf_counter() - timer
