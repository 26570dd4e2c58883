"""Whole networks timed in the setting's runtime: what the latency model's line is fitted on and checked against.

Each model is exported once per format with edgeres's own exporter (as `edgeres export` writes it: TFLite in
NHWC at batch 1) and, for int8 settings, quantized by the same engine and recipe as `edgeres quantize` on
random inputs (ranges do not change a kernel's speed); every file of one setting is then timed interleaved
with the others.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..bench.harness import TimingConfig
from ..export import export_model
from ..models import LoadedModel
from .probes import quantize_probe
from .setting import LatencySetting
from .timing import latency_us

WHOLE_TIMING = TimingConfig(warmup=10, min_runs=40, min_seconds=0.0, runs_per_round=10, settle=0)
WHOLE_PASSES = 12  # each a fresh session per network (tens of ms each): the export costs more than the timing


def whole_model_ms(
    models: dict[str, LoadedModel], settings: list[LatencySetting], anchor: str | None = None
) -> dict[str, dict[str, float]]:
    """{precision: {label: batch-1 milliseconds}} for every model in every setting (`anchor`: see latency_us)."""
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="edgeres-latency-") as tmp:
        folder = Path(tmp)
        exported: dict[tuple[str, str], Path] = {}
        for setting in settings:
            files = {}
            for label, loaded in models.items():
                key = (label, setting.format)
                if key not in exported:
                    out_path = folder / f"{label}-fp32.{setting.format}"
                    exported[key] = export_model(loaded, out_path, verify_output=False).path
                path = exported[key]
                if setting.precision == "int8":
                    out_path = folder / f"{label}-int8-{setting.target}.{setting.format}"
                    path = quantize_probe(path, out_path, setting, loaded.card, 3)
                files[label] = (path, (1, 3, *loaded.card.input_size))
            out[setting.precision] = {
                label: us / 1000 for label, us in latency_us(files, setting, WHOLE_TIMING, anchor, WHOLE_PASSES).items()
            }
    return out
