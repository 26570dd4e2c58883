"""Measured conv latencies, cached per machine and setting, read back by bilinear interpolation.

An entry is one (shape class, in channels, out channels): the probe's time less its null probe's (the
call's overhead). Tables live in $EDGERES_CACHE_DIR/latency, one JSON file per CPU model, CPU flags, runtime
versions and setting (of this machine, or of the board that times the setting), so another CPU or runtime
version measures afresh.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .._io import cache_dir, read_cache_json, write_cache_json
from ..progress import Progress
from .clock import machine_facts
from .layers import ConvShape
from .probes import probe_builder
from .setting import LatencySetting
from .timing import latency_us


def entry_key(shape: ConvShape, cin: int, cout: int) -> str:
    return f"{shape.key()}|{cin}|{cout}"


def machine_key(setting: LatencySetting) -> dict[str, object]:
    """What a measurement depends on besides the probe: the timing machine's CPU, its flags, the runtime
    versions (a board's own: edgeres.latency.clock), the setting."""
    return {**machine_facts(setting), "setting": _where_free_label(setting), "runtime": setting.runtime}


def _where_free_label(setting: LatencySetting) -> str:
    """The setting without the board's name: boards with one CPU and one set of packages share their tables."""
    return dataclasses.replace(setting, board=None).label()


class LatencyTable:
    """Conv latencies in microseconds for one setting on this machine, measured on demand and cached."""

    def __init__(self, setting: LatencySetting, folder: Path | None = None) -> None:
        self.setting = setting
        self.machine = machine_key(setting)
        digest = hashlib.sha256(json.dumps(self.machine, sort_keys=True).encode()).hexdigest()[:20]
        self.path = (folder or cache_dir() / "latency") / f"{setting.format}-{setting.precision}-{digest}.json"
        self.entries: dict[str, float] = self._read()
        self.measured = 0  # probes timed by this table (not read from the cache)

    def _read(self) -> dict[str, float]:
        data = read_cache_json(self.path)
        try:
            return {str(k): float(v) for k, v in data["entries"].items()} if data.get("machine") == self.machine else {}
        except (ValueError, KeyError, TypeError, AttributeError):
            return {}  # no table yet (or one of another shape): measure again

    def _write(self) -> None:
        write_cache_json(self.path, {"machine": self.machine, "entries": self.entries})

    def ensure(self, wanted: Iterable[tuple[ConvShape, int, int]], progress: Progress | None = None) -> None:
        """Measure every (shape, cin, cout) not in the table yet, one shape class at a time."""
        by_shape: dict[ConvShape, set[tuple[int, int]]] = {}
        for shape, cin, cout in wanted:
            if entry_key(shape, cin, cout) not in self.entries:
                by_shape.setdefault(shape, set()).add((cin, cout))
        for index, (shape, pairs) in enumerate(sorted(by_shape.items(), key=lambda item: item[0].key())):
            if progress is not None:
                progress(f"latency probes ({self.setting.precision})", index, len(by_shape))
            self.entries |= self._measure(shape, sorted(pairs))
            self._write()
        if progress is not None and by_shape:
            progress(f"latency probes ({self.setting.precision})", len(by_shape), len(by_shape))

    def _measure(self, shape: ConvShape, pairs: list[tuple[int, int]]) -> dict[str, float]:
        builder = probe_builder(self.setting.format)
        with tempfile.TemporaryDirectory(prefix="edgeres-latency-") as tmp:
            folder = Path(tmp)
            files: dict[str, tuple[Path, tuple[int, ...]]] = {}
            for cin in sorted({cin for cin, _ in pairs}):
                null = builder.null(shape, cin, folder / f"null-{cin}{builder.suffix}", self.setting)
                files[f"null-{cin}"] = (null, (1, cin, shape.height, shape.width))
            for cin, cout in pairs:
                probe = builder.conv(shape, cin, cout, folder / f"conv-{cin}-{cout}{builder.suffix}", self.setting)
                files[f"{cin}-{cout}"] = (probe, (1, cin, shape.height, shape.width))
            times = latency_us(files, self.setting)
        self.measured += len(pairs)
        return {
            entry_key(shape, cin, cout): max(0.0, times[f"{cin}-{cout}"] - times[f"null-{cin}"]) for cin, cout in pairs
        }

    def get(self, shape: ConvShape, cin: int, cout: int) -> float:
        return self.entries[entry_key(shape, cin, cout)]

    def interpolate(self, shape: ConvShape, cins: list[int], couts: list[int], cin: int, cout: int) -> float:
        """Bilinear between the measured grid points around (cin, cout); linear past the grid's ends."""
        (i0, i1, fi), (o0, o1, fo) = _bracket(cins, cin), _bracket(couts, cout)
        low = (1 - fo) * self.get(shape, i0, o0) + fo * self.get(shape, i0, o1)
        high = (1 - fo) * self.get(shape, i1, o0) + fo * self.get(shape, i1, o1)
        return max(0.0, (1 - fi) * low + fi * high)


def _bracket(grid: list[int], value: int) -> tuple[int, int, float]:
    """The two grid points around `value` and its fraction between them (outside: the nearest pair, extrapolated)."""
    if len(grid) == 1:
        return grid[0], grid[0], 0.0
    index = min(max(bisect.bisect_left(grid, value), 1), len(grid) - 1)
    low, high = grid[index - 1], grid[index]
    return low, high, (value - low) / (high - low)
