"""Which config file sits beside a checkpoint: timm's, Hugging Face's, or none edgeres reads."""

from __future__ import annotations

from pathlib import Path

from . import hf_config, timm_config
from .source_config import CONFIG_NAME, SourceConfig, read_json


def read_source_config(checkpoint: Path) -> SourceConfig | None:
    """The timm or Hugging Face config beside `checkpoint`, or None when there is none (a config.json of
    some other program is ignored). Raises ArchitectureError when it declares a network that is no ResNet."""
    path = checkpoint.with_name(CONFIG_NAME)
    if not path.is_file() or path == checkpoint:
        return None
    data = read_json(path)
    if timm_config.is_timm(data):
        return timm_config.parse(path, data)
    if hf_config.is_transformers(data):
        return hf_config.parse(path, data)
    return None
