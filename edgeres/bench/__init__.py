"""Benchmark several models in one run: latency distributions, throughput, memory, accuracy, environment."""

from .harness import TimingConfig
from .run import SCHEMA, BenchEntry, BenchRun, Subject, bench_models

__all__ = ["SCHEMA", "BenchEntry", "BenchRun", "Subject", "TimingConfig", "bench_models"]
