"""PNG plots of a benchmark run: latency distributions, and accuracy against latency with the Pareto front."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers and boards
    import matplotlib.pyplot as plt

    return plt


def latency_plot(run: dict[str, Any], out: Path) -> Path:
    """Box plot of every entry's raw samples, one box per (model, batch).

    Boxes span p25-p75 and whiskers p5-p95; the axis stops a little above the largest p95, so that a shared
    machine's tails (20-50x the median) cannot squash the boxes into lines. How many samples lie above the
    axis, and the largest, is written at the top of each box's column; p99 is in every table.
    """
    plt = _pyplot()
    entries = run["entries"]
    samples = [np.asarray(e["samples_ms"], float) for e in entries]
    top = 1.3 * max(float(np.percentile(s, 95)) for s in samples)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(entries)), 4))
    ax.boxplot(samples, whis=(5, 95), showfliers=True, flierprops={"markersize": 2, "alpha": 0.4})
    ax.set_ylim(0, top)
    for index, values in enumerate(samples, start=1):
        above = values[values > top]
        if len(above):
            label = f"{len(above)} above\nmax {above.max():.3g}"
            ax.annotate(
                label, (index, top), xytext=(0, -2), textcoords="offset points", ha="center", va="top", fontsize=6
            )
    ax.set_xticks(
        range(1, len(entries) + 1),
        [f"{Path(e['model']).name}\nbatch {e['batch']}" for e in entries],
        rotation=30,
        ha="right",
        fontsize=7,
    )
    ax.set_ylabel("latency per call (ms)")
    ax.set_title("latency distribution")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points not beaten on both axes (lower latency, higher accuracy), by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -1.0
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def accuracy_latency_plot(run: dict[str, Any], out: Path, batch: int = 1) -> Path | None:
    """Top-1 against p50 latency at `batch`; the Pareto front drawn through the points nobody beats."""
    entries = [e for e in run["entries"] if e["batch"] == batch and e["accuracy"]]
    if not entries:
        return None
    plt = _pyplot()
    points = [(e["stats"]["p50_ms"], e["accuracy"]["top1"]) for e in entries]
    front = pareto_front(points)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter([p[0] for p in points], [p[1] for p in points])
    by_latency = sorted(range(len(points)), key=lambda i: points[i][0])
    for rank, i in enumerate(by_latency):  # neighbours' labels on different rows: equal top-1s do not overlap
        ax.annotate(
            Path(entries[i]["model"]).name,
            points[i],
            fontsize=7,
            xytext=(4, 6 + 11 * (rank % 6)),
            textcoords="offset points",
            arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5},
        )
    ax.margins(y=0.25)
    xs, ys = [points[i][0] for i in front], [points[i][1] for i in front]
    ax.plot(xs, ys, "r--o", markerfacecolor="none", markersize=12, label="Pareto front")
    ax.set_xlabel(f"p50 latency at batch {batch} (ms)")
    ax.set_ylabel("top-1")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
