"""Before/after numbers for a pruned model: top-1, and batch-1 latency of its ONNX fp32 and int8 exports.

Latency is what pruning is for, and MAC counts do not promise it, so the original and the pruned model are
exported and quantized the same way and timed side by side in one interleaved benchmark.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..bench import BenchSettings, TimingConfig, bench_models
from ..data import open_images
from ..evaluate import LabeledData, score_many
from ..export import export_model
from ..formats import registry
from ..options import LoadOptions
from ..predict import open_predictor
from ..progress import Progress
from ..quantize import QuantizeSettings, quantize_model


def compare_accuracy(before: Path, after: Path, data: LabeledData, load_options: LoadOptions) -> dict[str, Any]:
    """Top-1 of both checkpoints in PyTorch on the same images (`before` read as `load_options` say)."""
    predictors = [open_predictor(before, load=load_options), open_predictor(after)]
    results, _ = score_many(predictors, open_images(data.path), limit=data.limit, by_position=data.by_position)
    first, second = results
    return {"before": first.top1, "after": second.top1, "n": first.n, "label_mapping": first.label_mapping}


def compare_latency(
    before: Path,
    after: Path,
    *,
    calib: str | os.PathLike[str] | None,
    data: LabeledData | None,
    load_options: LoadOptions,
    timing: TimingConfig | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Export both to the default format in fp32 (and int8 when `calib` is given) and bench them interleaved at
    batch 1."""
    suffix = registry.named(registry.DEFAULT).suffix
    with tempfile.TemporaryDirectory(prefix="edgeres-prune-") as tmp:
        files: dict[tuple[str, str], Path] = {}
        for label, source, options in (("before", before, load_options), ("after", after, LoadOptions())):
            files[(label, "fp32")] = export_model(source, Path(tmp) / f"{label}{suffix}", load_options=options).path
            if calib is not None:
                int8 = quantize_model(
                    source, Path(tmp) / f"{label}_int8{suffix}", QuantizeSettings(calib=calib, num=256, load=options)
                )
                files[(label, "int8")] = int8.path
        order = sorted(files, key=lambda k: (k[1], k[0] != "before"))  # fp32 before, fp32 after, int8 ..., int8 ...
        settings = BenchSettings(
            data=data.path if data else None,
            limit=data.limit if data else None,
            map_by_position=data.by_position if data else False,
            timing=timing or TimingConfig(min_runs=300, min_seconds=3.0),
        )
        run = bench_models([files[k] for k in order], settings, progress=progress)
        rows = []
        for key in order:
            entry = next(e for e in run.entries if e.model == str(files[key]))
            rows.append(
                {
                    "model": key[0],
                    "precision": key[1],
                    "p50_ms": entry.stats.p50_ms,
                    "p90_ms": entry.stats.p90_ms,
                    "file_bytes": entry.file_bytes,
                    "top1": entry.accuracy["top1"] if entry.accuracy else None,
                }
            )
    return rows
