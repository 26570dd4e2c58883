"""The documented, versioned JSON schema of a benchmark run ("edgeres.bench/1").

Version 1: one entry per (model, batch) with raw latency samples, their statistics, throughput, load time
and memory, optional accuracy; plus the configuration, the machine (GPUs included), GPU memory on CUDA runs
(null on CPU), and skipped (model, batch) pairs. Fields added within version 1 are optional: an entry's `isa`
(the CPU features an int8 file assumes), the run's `warnings` (e.g. such a file on a CPU without them), the
machine's `cpu_note`.
"""

from __future__ import annotations

from typing import Any

_NUMBER = {"type": "number"}
_STATS = {
    "type": "object",
    "required": ["n", "mean_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p99_ms", "unreliable"],
    "properties": {
        "n": {"type": "integer", "minimum": 1},
        **{k: _NUMBER for k in ("mean_ms", "std_ms", "min_ms", "max_ms", "p50_ms", "p90_ms", "p99_ms")},
        "unreliable": {"type": "array", "items": {"enum": ["p90", "p99"]}},
    },
}
_ACCURACY = {
    "type": ["object", "null"],
    "required": ["top1", "top5", "n", "agreement_with_baseline"],
    "properties": {
        "top1": _NUMBER,
        "top5": _NUMBER,
        "n": {"type": "integer"},
        "agreement_with_baseline": {"type": ["number", "null"]},
    },
}
_ENTRY = {
    "type": "object",
    "required": [
        "model",
        "runtime",
        "batch",
        "file_bytes",
        "load_s",
        "first_ms",
        "warmup_ms",
        "samples_ms",
        "stats",
        "throughput_per_s",
        "speedup_vs_baseline",
        "accuracy",
    ],
    "properties": {
        "model": {"type": "string"},
        "runtime": {"type": "string"},
        "batch": {"type": "integer", "minimum": 1},
        "file_bytes": {"type": "integer"},
        "load_s": _NUMBER,
        "rss_after_load_mb": _NUMBER,
        "first_ms": _NUMBER,
        "warmup_ms": {"type": "array", "items": _NUMBER},
        "samples_ms": {"type": "array", "items": _NUMBER, "minItems": 1},
        "stats": _STATS,
        "throughput_per_s": _NUMBER,
        "speedup_vs_baseline": {"type": ["number", "null"]},
        "accuracy": _ACCURACY,
        "provider": {"type": ["string", "null"]},  # onnxruntime's GPU provider, when one ran the file
        "settings": {"type": ["object", "null"]},  # what the runtime chose for the file (OpenVINO's precision)
        "isa": {
            "type": ["object", "null"],
            "required": ["needs_any"],
            "properties": {"needs_any": {"type": "array", "items": {"type": "string"}}, "why": {"type": "string"}},
        },
    },
}
BENCH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "edgeres benchmark run",
    "type": "object",
    "required": ["schema", "created", "config", "machine", "entries", "skipped", "peak_rss_mb"],
    "properties": {
        "schema": {"const": "edgeres.bench/1"},
        "created": {"type": "string"},
        "config": {"type": "object", "required": ["models", "baseline", "device", "batches", "timing"]},
        "machine": {"type": "object", "required": ["cpu_model", "cores", "cpu_flags", "versions"]},
        "peak_rss_mb": _NUMBER,
        "gpu_memory": {
            "type": ["object", "null"],
            "properties": {k: {"type": ["number", "null"]} for k in ("process_mb", "torch_peak_allocated_mb")},
        },
        "entries": {"type": "array", "items": _ENTRY},
        "skipped": {"type": "array", "items": {"type": "object", "required": ["model", "batch", "reason"]}},
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}

# "edgeres.bench-targets/1": one record per target of `edgeres bench --target ...`, each with the target
# profile, its runs (one edgeres.bench/1 record per batch size; partial when the run broke off) and an error.
TARGETS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "edgeres benchmark on several targets",
    "type": "object",
    "required": ["schema", "targets"],
    "properties": {
        "schema": {"const": "edgeres.bench-targets/1"},
        "targets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["target", "runs", "error"],
                "properties": {
                    "target": {"type": "object", "required": ["name", "transport"]},
                    "runs": {"type": "array", "items": BENCH_SCHEMA},
                    "error": {"type": ["string", "null"]},
                },
            },
        },
    },
}
