"""`edgeres demo`: generate data, train, evaluate, export, quantize to int8 and benchmark, with no download."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..bench import TimingConfig, bench_models
from ..card import IMAGENET_MEAN, IMAGENET_STD, ModelCard
from ..data import iter_batches, open_images
from ..errors import OutputExistsError
from ..evaluate import EvalResult, evaluate
from ..export import ExportResult, export_model
from ..models import build_model, save_model, spec_from_name
from ..predict import open_predictor
from ..prune import FinetuneOptions, PruneResult, prune_checkpoint
from ..quantize import QuantizeResult, quantize_model
from ..report import write_reports
from ..summary import ModelSummary, summarize
from .synthetic import CLASSES, SIZE, write_image_folder
from .train import train_for

ARCH = "cifar_resnet8"


@dataclass
class DemoResult:
    out: Path
    model_path: Path
    train_images: int
    test_images: int
    steps: int
    images_seen: int
    train_seconds: float
    summary: ModelSummary
    accuracy: EvalResult
    timings: dict[str, float] = field(default_factory=dict)
    exports: list[tuple[ExportResult, EvalResult]] = field(default_factory=list)
    quantized: list[QuantizeResult] = field(default_factory=list)
    pruned: PruneResult | None = None
    bench: dict[str, Any] | None = None

    def lines(self) -> list[str]:
        """What the demo did, one step a line, for the terminal."""
        acc = self.accuracy
        return [
            f"data      {self.train_images} train / {self.test_images} test procedural images, "
            f"10 classes, in {self.out / 'data'} ({self.timings['data']:.1f} s)",
            f"model     {ARCH}: {self.summary.params / 1e3:.0f} K params, "
            f"{self.summary.macs / 1e6:.1f} M MACs at {SIZE}x{SIZE}",
            f"train     {self.steps} SGD steps, {self.images_seen} images in {self.train_seconds:.0f} s",
            f"saved     {self.model_path} (safetensors + architecture spec + model card)",
            f"eval      top-1 {acc.top1:.4f}, top-{acc.topk} {acc.top5:.4f} on {acc.n} held-out images",
            *[_export_line(export, evaluated) for export, evaluated in self.exports],
            *[_quantize_line(result) for result in self.quantized],
            *([_prune_line(self.pruned)] if self.pruned else []),
            f"bench     {self.out / 'bench'} (JSON, Markdown, latency and accuracy-vs-latency plots); table below",
            f"next      edgeres inspect {self.model_path}",
            f"          edgeres eval {self.exports[0][0].path if self.exports else self.model_path} "
            f"--data {self.out / 'data' / 'test'}",
        ]


def _quantize_line(result: QuantizeResult) -> str:
    acc = result.accuracy
    assert acc is not None
    return (
        f"int8      {result.path.name}: {result.int8_bytes / 1e3:.0f} KB ({type(result.recipe).__name__}, "
        f"{result.calibration['n']} calibration images) in {result.seconds:.1f} s; top-1 {acc.int8_top1:.4f} "
        f"vs fp32 {acc.fp32_top1:.4f}, {acc.agreement:.1%} agreement"
    )


def _prune_line(result: PruneResult) -> str:
    top1 = result.top1 or {"after": float("nan")}
    epochs = len(result.finetune.epochs) if result.finetune else 0
    return (
        f"prune     {result.out.name}: {result.after['macs'] / result.before['macs']:.0%} of the MACs, "
        f"{result.after['params'] / result.before['params']:.0%} of the params, fine-tuned {epochs} epochs; "
        f"top-1 {top1['after']:.4f}; exported to ONNX fp32 and int8 for the bench"
    )


def _export_line(export: ExportResult, evaluated: EvalResult) -> str:
    check = export.verification
    agreement = f"{check.top1_agreement:.0%} top-1 agreement with PyTorch" if check else "not verified"
    return (
        f"export    {export.path.name}: {export.file_bytes / 1e3:.0f} KB in {export.seconds:.1f} s, {agreement}; "
        f"top-1 {evaluated.top1:.4f} in its own runtime"
    )


def _pruned_variant(
    model_path: Path, out: Path, progress: Callable[[str, int, int], None]
) -> tuple[PruneResult, list[Path]]:
    """Half the MACs, two distilled fine-tuning epochs, then ONNX fp32 and int8 files for the bench."""
    data = out / "data"
    progress("prune", 0, 1)
    pruned = prune_checkpoint(
        model_path,
        out / "model_pruned.safetensors",
        target_macs=0.5,
        finetune_data=data / "train",
        finetune_options=FinetuneOptions(epochs=2, lr=0.02, distill=True),
        eval_data=data / "test",
        train_progress=lambda epoch, done, total, _loss, _top1: progress(f"finetune {epoch}", done, total),
    )
    progress("prune", 1, 1)
    fp32 = export_model(pruned.out, out / "model_pruned.onnx", verify_data=data / "test", verify_limit=200)
    int8 = quantize_model(pruned.out, out / "model_pruned_int8.onnx", calib=data / "train", num=256)
    return pruned, [fp32.path, int8.path]


def run_demo(
    out: Path,
    *,
    train_seconds: float = 60.0,
    seed: int = 0,
    force: bool = False,
    per_class: tuple[int, int] = (500, 100),
    progress: Callable[[str, int, int], None] = lambda _p, _d, _t: None,
) -> DemoResult:
    """Run every available stage on a generated data set. Raises OutputExistsError unless `force`."""
    if out.exists() and any(out.iterdir()):
        if not force:
            raise OutputExistsError(f"{out}: already exists; pass --force to replace it or choose another --out")
        shutil.rmtree(out)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    write_image_folder(out / "data" / "train", per_class[0], seed, lambda d, t: progress("data (train)", d, t))
    write_image_folder(out / "data" / "test", per_class[1], seed + 1, lambda d, t: progress("data (test)", d, t))
    timings["data"] = time.perf_counter() - start

    train_set = open_images(out / "data" / "train")
    labels = train_set.classes  # folder order (sorted), which is what the label indices refer to
    card = ModelCard(ARCH, len(CLASSES), (SIZE, SIZE), IMAGENET_MEAN, IMAGENET_STD, labels=labels, source="demo")
    batches = list(iter_batches(train_set, card, np.arange(len(train_set)), batch_size=512))
    x = np.concatenate([b.x for b in batches])
    y = np.concatenate([b.y for b in batches if b.y is not None])

    spec = spec_from_name(ARCH, len(CLASSES))
    torch.manual_seed(seed)
    model = build_model(spec)
    start = time.perf_counter()
    steps, seen = train_for(
        model, x, y, seconds=train_seconds, seed=seed, progress=lambda d, t: progress("train", d, t)
    )
    timings["train"] = time.perf_counter() - start

    model_path = save_model(model, spec, card, out / "model.safetensors")
    predictor = open_predictor(model_path)  # evaluate what was written, as a user would
    accuracy = evaluate(predictor, open_images(out / "data" / "test"), progress=lambda d, t: progress("eval", d, t))
    summary = summarize(model, card)
    result = DemoResult(out, model_path, len(x), accuracy.n, steps, seen, timings["train"], summary, accuracy, timings)
    test_dir = out / "data" / "test"
    for fmt in ("onnx", "tflite"):
        progress(f"export {fmt}", 0, 1)
        export = export_model(model_path, out / f"model.{fmt}", verify_data=test_dir, verify_limit=200)
        progress(f"export {fmt}", 1, 1)
        evaluated = evaluate(
            open_predictor(export.path), open_images(test_dir), progress=partial(progress, f"eval {fmt}")
        )
        result.exports.append((export, evaluated))
    for fmt in ("onnx", "tflite"):
        progress(f"int8 {fmt}", 0, 1)
        result.quantized.append(
            quantize_model(
                model_path, out / f"model_int8.{fmt}", calib=out / "data" / "train", num=256, eval_data=test_dir
            )
        )
        progress(f"int8 {fmt}", 1, 1)
    files = [e.path for e, _ in result.exports] + [q.path for q in result.quantized]
    files = [files[0], files[2], files[1], files[3]]  # onnx fp32, onnx int8, tflite fp32, tflite int8
    result.pruned, pruned_files = _pruned_variant(model_path, out, progress)
    files += pruned_files
    run = bench_models(files, data=test_dir, timing=TimingConfig(min_runs=100, min_seconds=0.5), progress=progress)
    result.bench = run.to_dict()
    write_reports(result.bench, report_dir=out / "bench")
    return result
