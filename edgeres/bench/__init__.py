"""Benchmark several models in one run: latency distributions, throughput, memory, accuracy, environment."""

from .harness import TimingConfig
from .run import SCHEMA, BenchEntry, BenchRun, Subject, bench_models
from .settings import BenchSettings

__all__ = ["SCHEMA", "BenchEntry", "BenchRun", "BenchSettings", "Subject", "TimingConfig", "bench_models"]
