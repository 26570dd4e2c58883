"""One command from a config file: prune, export, quantize per target, bench on every target, report.html."""

from __future__ import annotations

from .config import ConfigError, PipelineConfig, example_config, load_config
from .run import PipelineResult, run_pipeline

__all__ = ["ConfigError", "PipelineConfig", "PipelineResult", "example_config", "load_config", "run_pipeline"]
