"""Benchmark runs as rows: CSV and Markdown. Reads run records; never times anything."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

COLUMNS = (
    "model",
    "runtime",
    "batch",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "throughput_per_s",
    "speedup_vs_baseline",
    "top1",
    "top5",
    "agreement",
    "runtime_agreement",
    "file_mb",
    "load_s",
    "first_ms",
    "n",
    "cpu_needs",
    "unreliable",
)

# Column headers for people (terminal, Markdown); CSV and JSON keep the keys above.
LABELS = {
    "p50_ms": "p50 ms",
    "p90_ms": "p90 ms",
    "p99_ms": "p99 ms",
    "mean_ms": "mean ms",
    "std_ms": "std ms",
    "throughput_per_s": "images/s",
    "speedup_vs_baseline": "x baseline",
    "top1": "top-1",
    "top5": "top-5",
    "file_mb": "file MB",
    "load_s": "load s",
    "first_ms": "first call ms",
    "n": "samples",
    "cpu_needs": "x86 CPU needs",
    "runtime_agreement": "vs 1st runtime",
}


# The subset shown in the terminal, where width is scarce.
SUMMARY_COLUMNS = (
    "model",
    "runtime",
    "batch",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "throughput_per_s",
    "speedup_vs_baseline",
    "top1",
    "agreement",
    "runtime_agreement",
    "file_mb",
    "cpu_needs",
)


def label(column: str) -> str:
    return LABELS.get(column, column)


def machine_line(machine: dict[str, Any]) -> str:
    """CPU model, architecture, cores, ISA flags and runtime versions: what every report names first."""
    versions = machine.get("versions") or {}
    runtimes = ", ".join(f"{k} {v}" for k, v in versions.items() if k not in ("edgeres",))
    note = f" ({machine['cpu_note']})" if machine.get("cpu_note") else ""
    return (
        f"{machine.get('cpu_model', '?')}{note}, {machine.get('machine', '?')}, {machine.get('cores', '?')} cores, "
        f"flags {' '.join(machine.get('cpu_flags') or []) or 'n/a'}; {runtimes}"
    )


def accuracy_line(run: dict[str, Any]) -> str | None:
    """Where top-1 was measured and how the data's classes met the models' outputs; None without accuracy."""
    measured = [e["accuracy"] for e in run["entries"] if e.get("accuracy")]
    if not measured:
        return None
    mappings = sorted({a.get("label_mapping", "?") for a in measured})
    return f"top-1 on {measured[0]['n']} images of {run['config'].get('data')}, classes {'/'.join(mappings)}"


def visible_columns(table_rows: list[dict[str, Any]], columns: tuple[str, ...]) -> tuple[str, ...]:
    """`columns` without cpu_needs when no model needs anything (the usual case), and without cross-runtime
    agreement when no file ran in several runtimes."""
    optional = {"cpu_needs", "runtime_agreement"}
    return tuple(c for c in columns if c not in optional or any(r[c] is not None and r[c] != "" for r in table_rows))


def cells(row: dict[str, Any], columns: tuple[str, ...]) -> list[str]:
    """A row's values as text; percentiles computed from too few samples get a `*`."""
    flagged = row["unreliable"].split()
    return [f"{row[c]}*" if c[:3] in flagged else ("" if row[c] is None else str(row[c])) for c in columns]


def rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per entry of a run dict (the JSON form)."""
    out = []
    for entry in run["entries"]:
        stats, accuracy = entry["stats"], entry["accuracy"] or {}
        out.append(
            {
                "model": Path(entry["model"]).name,
                "runtime": entry["runtime"] + (f" ({entry['provider']})" if entry.get("provider") else ""),
                "batch": entry["batch"],
                **{k: round(stats[k], 3) for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms")},
                "throughput_per_s": round(entry["throughput_per_s"], 1),
                "speedup_vs_baseline": None
                if entry["speedup_vs_baseline"] is None
                else round(entry["speedup_vs_baseline"], 2),
                "top1": accuracy.get("top1"),
                "top5": accuracy.get("top5"),
                "agreement": accuracy.get("agreement_with_baseline"),
                "runtime_agreement": accuracy.get("agreement_across_runtimes"),
                "file_mb": round(entry["file_bytes"] / 1e6, 2),
                "load_s": round(entry["load_s"], 3),
                "first_ms": round(entry["first_ms"], 3),
                "n": stats["n"],
                "cpu_needs": "/".join((entry.get("isa") or {}).get("needs_any", [])),
                "unreliable": " ".join(stats["unreliable"]),
            }
        )
    return out


def to_csv(run: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows(run))
    return buffer.getvalue()


def to_markdown(run: dict[str, Any]) -> str:
    table_rows = rows(run)
    columns = visible_columns(table_rows, COLUMNS[:-1])
    lines = [
        f"# edgeres benchmark ({run['created']})",
        "",
        f"Machine: {machine_line(run['machine'])}",
        "",
        f"Baseline {Path(run['config']['baseline']).name}; percentiles marked * come from too few samples "
        "(p90 < 64, p99 < 662, MLPerf LoadGen's rule).",
        "",
        "| " + " | ".join(label(c) for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in table_rows:
        lines.append("| " + " | ".join(cells(row, columns)) + " |")
    if accuracy_line(run):
        lines.append(f"\n{accuracy_line(run)}")
    for warning in run.get("warnings", []):
        lines.append(f"\nWarning: {warning}")
    for skip in run["skipped"]:
        lines.append(f"\nSkipped {Path(skip['model']).name} at batch {skip['batch']}: {skip['reason']}")
    return "\n".join(lines) + "\n"


def latency_plan_rows(plan: dict[str, Any]) -> list[list[str]]:
    """Rows (label, before, after, after / before) of a `--target-latency` plan's kept choice: predicted by the
    latency model before that network was measured, then measured side by side, for each precision."""
    final = plan["rounds"][plan["chosen_round"] - 1]
    rows = []
    for precision in ("int8", "fp32"):
        if precision not in final:
            continue
        entry = final[precision]
        for kind in ("predicted", "measured"):
            ms = entry[f"{kind}_ms"]
            rows.append([f"{precision} {kind} ms", f"{ms['before']:.3f}", f"{ms['after']:.3f}", f"{ms['ratio']:.3f}"])
        rows.append([f"{precision} prediction error", "", "", f"{entry['error']:+.1%}"])
    return rows


def latency_plan_note(plan: dict[str, Any]) -> str:
    """One line: the target, what was timed, the rounding and how many choices were checked."""
    rounding = plan["rounding"]
    how = f"measured on {rounding['layer']}" if rounding["curve_us"] else "given"
    removed = (plan.get("depth") or {}).get("removed")
    blocks = f"; residual blocks removed: {', '.join(removed)}" if removed else ""
    return (
        f"target latency {plan['target']:.0%} of the unpruned model's, {plan['setting']}; channel multiple "
        f"{rounding['multiple']} ({how}); {len(plan['rounds'])} choice(s) measured, #{plan['chosen_round']} kept"
        f"{blocks}"
    )
