"""Which config file sits beside a checkpoint: timm's, Hugging Face's, or none edgeres reads."""

from __future__ import annotations

from pathlib import Path

from ...errors import CardError
from . import hf_config, timm_config
from .source_config import CONFIG_NAME, SourceConfig, read_json


def read_source_config(checkpoint: Path) -> SourceConfig | None:
    """The timm or Hugging Face config beside `checkpoint`, or None when there is none (a config.json of
    some other program is ignored). Raises ArchitectureError when it declares a network that is no ResNet."""
    path = checkpoint.with_name(CONFIG_NAME)
    if not path.is_file() or path == checkpoint:
        return None
    data = read_json(path)
    parse = (
        timm_config.parse if timm_config.is_timm(data) else hf_config.parse if hf_config.is_transformers(data) else None
    )
    if parse is None:
        return None
    try:
        return parse(path, data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a field of the wrong type or shape
        raise CardError(
            f"{path} (or the preprocessor_config.json beside it): a field is malformed ({type(exc).__name__}: "
            f"{exc}); fix it, or remove the file to load the weights alone"
        ) from None
