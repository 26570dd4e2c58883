"""Latency statistics as pure functions over raw samples (seconds in, milliseconds out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# MLPerf LoadGen's minimum sample counts for a percentile to mean anything (99% confidence).
MIN_SAMPLES = {"p90": 64, "p99": 662}


@dataclass(frozen=True)
class LatencyStats:
    n: int
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    unreliable: tuple[str, ...]  # percentiles computed from too few samples

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["unreliable"] = list(self.unreliable)
        return out


def latency_stats(samples_s: list[float] | np.ndarray) -> LatencyStats:
    """Summarise per-call latencies. Raises ValueError on an empty sample list."""
    values = np.asarray(samples_s, dtype=np.float64) * 1e3
    if values.size == 0:
        raise ValueError("no samples")
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    flagged = tuple(name for name, minimum in MIN_SAMPLES.items() if values.size < minimum)
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return LatencyStats(
        int(values.size),
        float(values.mean()),
        std,
        float(values.min()),
        float(values.max()),
        float(p50),
        float(p90),
        float(p99),
        flagged,
    )


def throughput(batch: int, stats: LatencyStats) -> float:
    """Items per second at the median latency."""
    return batch / (stats.p50_ms / 1e3)
