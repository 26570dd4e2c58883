"""Benchmark several models in one run: latency distributions, throughput, memory, accuracy, environment."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..data import ImageSet, open_images
from ..errors import EdgeresError, ModelFileError
from ..evaluate import LabeledData, class_mapping, evaluate_many
from ..isa import cpu_warning
from .harness import TimingConfig, time_interleaved
from .record import gpu_process_mb, machine_info, peak_rss_mb, pin_cpus, rss_mb
from .runners import file_bytes, open_runner, runtime_for
from .stats import LatencyStats, latency_stats, throughput

SCHEMA = "edgeres.bench/1"


@dataclass
class BenchEntry:
    model: str
    runtime: str
    batch: int
    file_bytes: int
    load_s: float
    rss_after_load_mb: float
    first_ms: float
    warmup_ms: list[float]
    samples_ms: list[float]
    stats: LatencyStats
    throughput_per_s: float
    speedup_vs_baseline: float | None = None
    accuracy: dict[str, Any] | None = None
    isa: dict[str, Any] | None = None  # int8 files: the CPU features they assume (edgeres.isa)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "stats"}
        out["stats"] = self.stats.to_dict()
        return out


@dataclass
class BenchRun:
    config: dict[str, Any]
    machine: dict[str, Any]
    entries: list[BenchEntry] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    gpu_memory: dict[str, float | None] | None = None
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "config": self.config,
            "machine": self.machine,
            "peak_rss_mb": self.peak_rss_mb,
            "gpu_memory": self.gpu_memory,
            "entries": [e.to_dict() for e in self.entries],
            "skipped": self.skipped,
            "warnings": self.warnings,
        }


def bench_models(
    models: Sequence[str | os.PathLike[str]],
    *,
    data: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    map_by_position: bool = False,
    runtime: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    batches: tuple[int, ...] = (1,),
    timing: TimingConfig | None = None,
    baseline: str | os.PathLike[str] | None = None,
    cpus: list[int] | None = None,
    fp16: bool = False,
    compile_mode: str | None = None,
    cuda_graphs: bool = False,
    progress: Any = None,
) -> BenchRun:
    """Measure every model at every batch size, interleaved; the baseline (first model by default) anchors ratios.

    `fp16`, `compile_mode` (see TorchPredictor) and `cuda_graphs` apply to PyTorch checkpoints.

    Raises EdgeresError subclasses for missing runtimes, devices, files, or mismatched data.
    """
    if not batches or min(batches) < 1:
        raise EdgeresError(f"batch sizes must be 1 or more, got {list(batches)}")
    timing = timing or TimingConfig()
    paths = [Path(m) for m in models]
    if baseline is not None and Path(baseline) not in paths:
        paths.insert(0, Path(baseline))
    base = Path(baseline) if baseline is not None else paths[0]
    if cpus:
        pin_cpus(cpus)
    run = BenchRun(
        config={
            "models": [str(p) for p in paths],
            "baseline": str(base),
            "device": device,
            "threads": threads,
            "batches": list(batches),
            "timing": timing.__dict__,
            "data": str(data) if data else None,
            "limit": limit,
            "map_by_position": map_by_position,
            "cpus": cpus,
            "fp16": fp16,
            "compile": compile_mode,
            "cuda_graphs": cuda_graphs,
        },
        machine=machine_info(),
    )
    options: dict[str, Any] = {"device": device, "threads": threads, "fp16": fp16, "compile_mode": compile_mode}
    runners, loads = {}, {}
    for path in paths:
        before, start = rss_mb(), time.perf_counter()
        runners[path] = open_runner(path, runtime_for(path, runtime), cuda_graphs=cuda_graphs, **options)
        loads[path] = (time.perf_counter() - start, rss_mb() - before)
    run.warnings = [w for p in paths if (w := cpu_warning(p.name, runners[p]))]
    labeled = LabeledData(data, limit, map_by_position) if data is not None else None
    images = None
    if labeled is not None:  # the data's classes meet every model's, checked before minutes of timing
        images = open_images(labeled.path)
        for runner in runners.values():
            class_mapping(runner.card, images, labeled.by_position)
    for batch in batches:
        run.entries += _time_batch(runners, loads, batch, timing, base, progress, run.skipped)
    for entry in run.entries:
        isa = getattr(runners[Path(entry.model)], "isa", None)
        entry.isa = isa.to_dict() if isa is not None else None
    if device != "cpu":
        run.gpu_memory = _gpu_memory(runners)
    if labeled is not None and images is not None:
        _add_accuracy(run, runners, base, labeled, images, progress)
    for runner in runners.values():
        runner.close()
    run.peak_rss_mb = peak_rss_mb()
    return run


def _time_batch(
    runners: dict[Path, Any],
    loads: dict[Path, tuple[float, float]],
    batch: int,
    timing: TimingConfig,
    base: Path,
    progress: Any,
    skipped: list[dict[str, Any]],
) -> list[BenchEntry]:
    subjects: dict[str, Callable[[], object]] = {}
    for path, runner in runners.items():
        x = np.random.default_rng(0).standard_normal((batch, 3, *runner.card.input_size), dtype=np.float32)
        try:
            subjects[str(path)] = partial(runner.invoke, runner.prepare(x))
        except ModelFileError as exc:  # a file with a fixed batch of another size
            skipped.append({"model": str(path), "batch": batch, "reason": str(exc)})
    timings = time_interleaved(subjects, timing, progress=progress)
    entries = []
    for path, runner in runners.items():
        if str(path) not in timings:
            continue
        t = timings[str(path)]
        stats = latency_stats(t.samples_s)
        entries.append(
            BenchEntry(
                str(path),
                type(runner).__name__,
                batch,
                file_bytes(path),
                loads[path][0],
                loads[path][1],
                t.first_s * 1e3,
                [s * 1e3 for s in t.warmup_s],
                [s * 1e3 for s in t.samples_s],
                stats,
                throughput(batch, stats),
            )
        )
    base_p50 = next((e.stats.p50_ms for e in entries if e.model == str(base)), None)
    for entry in entries:
        entry.speedup_vs_baseline = base_p50 / entry.stats.p50_ms if base_p50 else None
    return entries


def _gpu_memory(runners: dict[Path, Any]) -> dict[str, float | None]:
    """What the process holds on the GPU (nvidia-smi) and PyTorch's own peak allocation, after timing."""
    peaks = [r.gpu_peak_mb() for r in runners.values() if hasattr(r, "gpu_peak_mb")]
    known = [p for p in peaks if p is not None]
    return {"process_mb": gpu_process_mb(), "torch_peak_allocated_mb": max(known) if known else None}


def _add_accuracy(
    run: BenchRun, runners: dict[Path, Any], base: Path, data: LabeledData, images: ImageSet, progress: Any
) -> None:
    """Top-1/top-5 by each model's own runner; agreement with the baseline when preprocessing matches."""
    run.warnings += images.warnings
    order = [base, *[p for p in runners if p != base]]
    cards = [runners[p].card for p in order]
    same = all(
        c.replace(source="", source_sha256="", arch="") == cards[0].replace(source="", source_sha256="", arch="")
        for c in cards
    )
    groups = [order] if same else [[p] for p in order]
    for group in groups:
        results, agreement = evaluate_many(
            [runners[p] for p in group],
            images,
            limit=data.limit,
            progress=(lambda d, t: progress("accuracy", d, t)) if progress else None,
            by_position=data.by_position,
        )
        for path, result, agree in zip(group, results, agreement, strict=True):
            accuracy = {
                "top1": result.top1,
                "top5": result.top5,
                "n": result.n,
                "skipped": result.skipped,
                "label_mapping": result.label_mapping,
                "agreement_with_baseline": agree if same else None,
            }
            for entry in run.entries:
                if entry.model == str(path):
                    entry.accuracy = accuracy
    if not any(e.accuracy for e in run.entries):
        raise EdgeresError(f"{data.path}: no accuracy could be measured")


__all__ = ["SCHEMA", "BenchEntry", "BenchRun", "TimingConfig", "bench_models"]
