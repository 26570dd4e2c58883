"""bench_models: open each (file, runtime), time them interleaved per batch size, score them on labeled images."""

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

from ..card import ModelCard
from ..data import ImageSet, open_images
from ..errors import EdgeresError, ModelFileError
from ..evaluate import LabeledData, class_mapping, score_many
from ..isa import cpu_warning
from ..options import RuntimeOptions
from ..runtimes.registry import named
from .harness import TimingConfig, time_interleaved
from .record import gpu_process_mb, machine_info, peak_rss_mb, pin_cpus, rss_mb
from .runners import check_flags, file_bytes, open_runner, runtimes_for
from .settings import BenchSettings
from .stats import LatencyStats, latency_stats, throughput

SCHEMA = "edgeres.bench/1"


@dataclass(frozen=True)
class Subject:
    """One model file in one runtime: what a benchmark row measures."""

    path: Path
    runtime: str

    def label(self, runners: dict[Subject, Any]) -> str:
        """The file, with the runtime where the run has the file in several."""
        several = sum(other.path == self.path for other in runners) > 1
        return f"{self.path} [{self.runtime}]" if several else str(self.path)


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
    provider: str | None = None  # onnxruntime's GPU provider (cuda, tensorrt) when one ran the file
    settings: dict[str, Any] | None = None  # what the runtime chose for this file (OpenVINO: its precision)
    subject: Subject | None = field(default=None, repr=False)  # the runner it came from (not in the JSON)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("stats", "subject")}
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
    settings: BenchSettings | None = None,
    progress: Any = None,
) -> BenchRun:
    """Measure every model at every batch size, interleaved; the baseline (first model by default) anchors ratios.

    A file runs in each runtime `settings.runtimes` names that opens it (default: its own), and one file run in
    several runtimes is also scored for their agreement with each other. Raises EdgeresError subclasses for
    missing runtimes, devices, files, runtime options no runtime of the run takes, or mismatched data.
    """
    settings = settings or BenchSettings()
    paths = [Path(m) for m in models]
    baseline = settings.baseline
    if baseline is not None and Path(baseline) not in paths:
        paths.insert(0, Path(baseline))
    base = Path(baseline) if baseline is not None else paths[0]
    if settings.cpus:
        pin_cpus(list(settings.cpus))
    run = BenchRun(config=settings.record(paths, base), machine=machine_info())
    subjects = [Subject(path, r.name) for path in paths for r in runtimes_for(path, settings.runtimes)]
    run.config["runtimes"] = list(dict.fromkeys(s.runtime for s in subjects))
    check_flags(paths, [named(s.runtime) for s in subjects], settings.options.specific())
    runners, loads = _open(subjects, settings.options)
    base_subject = next(s for s in subjects if s.path == base)
    run.warnings = list(dict.fromkeys(w for s in subjects if (w := cpu_warning(s.path.name, runners[s]))))
    labeled = LabeledData(settings.data, settings.limit, settings.map_by_position) if settings.data else None
    images = None
    if labeled is not None:  # the data's classes meet every model's, checked before minutes of timing
        images = open_images(labeled.path)
        for runner in runners.values():
            class_mapping(runner.card, images, labeled.by_position)
    for batch in settings.batches:
        run.entries += _time_batch(runners, loads, batch, settings.timing, base_subject, progress, run.skipped)
    _describe_runners(run.entries, runners)
    if settings.options.device != "cpu":
        run.gpu_memory = _gpu_memory(runners)
    if labeled is not None and images is not None:
        _add_accuracy(run, runners, base_subject, labeled, images, progress)
    for runner in runners.values():
        runner.close()
    run.peak_rss_mb = peak_rss_mb()
    return run


def _describe_runners(entries: list[BenchEntry], runners: dict[Subject, Any]) -> None:
    """Each row's CPU assumption (int8 files) and the GPU provider that ran it, from its runner."""
    for entry in entries:
        isa = getattr(runners[entry.subject], "isa", None) if entry.subject else None
        entry.isa = isa.to_dict() if isa is not None else None
        provider = getattr(runners[entry.subject], "provider", None) if entry.subject else None
        entry.provider = provider if provider != "cpu" else None
        entry.settings = getattr(runners[entry.subject], "settings", None) if entry.subject else None


def _open(
    subjects: list[Subject], options: RuntimeOptions
) -> tuple[dict[Subject, Any], dict[Subject, tuple[float, float]]]:
    """Each subject's runner, with its load seconds and the memory loading it took (MB)."""
    runners, loads = {}, {}
    for subject in subjects:
        before, start = rss_mb(), time.perf_counter()
        runners[subject] = open_runner(subject.path, named(subject.runtime), options)
        loads[subject] = (time.perf_counter() - start, rss_mb() - before)
    return runners, loads


def _time_batch(
    runners: dict[Subject, Any],
    loads: dict[Subject, tuple[float, float]],
    batch: int,
    timing: TimingConfig,
    base: Subject,
    progress: Any,
    skipped: list[dict[str, Any]],
) -> list[BenchEntry]:
    calls: dict[str, Callable[[], object]] = {}
    labels = {subject: subject.label(runners) for subject in runners}
    for subject, runner in runners.items():
        x = np.random.default_rng(0).standard_normal((batch, 3, *runner.card.input_size), dtype=np.float32)
        try:
            calls[labels[subject]] = partial(runner.invoke, runner.prepare(x))
        except ModelFileError as exc:  # a file with a fixed batch of another size
            skipped.append({"model": str(subject.path), "runtime": subject.runtime, "batch": batch, "reason": str(exc)})
    timings = time_interleaved(calls, timing, progress=progress)
    entries = []
    for subject in runners:
        if labels[subject] not in timings:
            continue
        t = timings[labels[subject]]
        stats = latency_stats(t.samples_s)
        entry = BenchEntry(
            str(subject.path),
            subject.runtime,
            batch,
            file_bytes(subject.path),
            loads[subject][0],
            loads[subject][1],
            t.first_s * 1e3,
            [s * 1e3 for s in t.warmup_s],
            [s * 1e3 for s in t.samples_s],
            stats,
            throughput(batch, stats),
        )
        entry.subject = subject
        entries.append(entry)
    base_p50 = next((e.stats.p50_ms for e in entries if e.subject == base), None)
    for entry in entries:
        entry.speedup_vs_baseline = base_p50 / entry.stats.p50_ms if base_p50 else None
    return entries


def _gpu_memory(runners: dict[Subject, Any]) -> dict[str, float | None]:
    """What the process holds on the GPU (nvidia-smi) and PyTorch's own peak allocation, after timing."""
    peaks = [r.gpu_peak_mb() for r in runners.values() if hasattr(r, "gpu_peak_mb")]
    known = [p for p in peaks if p is not None]
    return {"process_mb": gpu_process_mb(), "torch_peak_allocated_mb": max(known) if known else None}


def _preprocessing(card: ModelCard) -> ModelCard:
    """The card without what names the file and its origin: equal for models fed the same inputs."""
    return card.replace(source="", source_sha256="", source_family="", arch="")


def _add_accuracy(
    run: BenchRun, runners: dict[Subject, Any], base: Subject, data: LabeledData, images: ImageSet, progress: Any
) -> None:
    """Top-1/top-5 by each model's own runner; agreement with the baseline when preprocessing matches, and
    of one file's runtimes with the first of them."""
    run.warnings += images.warnings
    order = [base, *[s for s in runners if s != base]]
    cards = [runners[s].card for s in order]
    same = all(_preprocessing(c) == _preprocessing(cards[0]) for c in cards)
    groups = (
        [order] if same else [[s for s in order if s.path == path] for path in dict.fromkeys(s.path for s in order)]
    )
    for group in groups:
        results, agreement = score_many(
            [runners[s] for s in group],
            images,
            limit=data.limit,
            progress=(lambda d, t: progress("accuracy", d, t)) if progress else None,
            by_position=data.by_position,
        )
        for i, (subject, result) in enumerate(zip(group, results, strict=True)):
            first = next(j for j, other in enumerate(group) if other.path == subject.path)
            accuracy = {
                "top1": result.top1,
                "top5": result.top5,
                "n": result.n,
                "skipped": result.skipped,
                "label_mapping": result.label_mapping,
                "agreement_with_baseline": float(agreement[i, 0]) if same else None,
                "agreement_across_runtimes": float(agreement[i, first]) if first != i else None,
            }
            for entry in run.entries:
                if entry.subject == subject:
                    entry.accuracy = accuracy
    if not any(e.accuracy for e in run.entries):
        raise EdgeresError(f"{data.path}: no accuracy could be measured")
