"""report.html: one self-contained page (inline CSS, images as data: URIs) that reads offline."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from ..formats import registry
from ..report.merged import target_accuracy, target_machines, target_warnings
from ..report.tables import latency_plan_note, latency_plan_rows

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;padding:0 1.5rem;
max-width:72rem;color:#1d2330}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d8dde6;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}th,td{padding:.3rem .6rem;border:1px solid #d8dde6}
th{background:#f2f4f8;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#5b6475;font-size:.85rem}img{max-width:48%;margin:.5rem 1% 0 0;border:1px solid #d8dde6}
.err{color:#a4161a}
"""


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = ""
    for row in rows:
        cells = "".join(
            f'<td class="n">{html.escape(str(c))}</td>' if _numeric(c) else f"<td>{html.escape(str(c))}</td>"
            for c in row
        )
        body += f"<tr>{cells}</tr>"
    return f"<table><tr>{head}</tr>{body}</table>"


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit())


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def comparison_rows(bench: dict[str, Any], summaries: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """variant x format x precision x target: size, MACs, p50, p90, throughput, top-1, agreement with the
    baseline (the original model's first fp32 file)."""
    rows = []
    for result in bench["targets"]:
        for run in result["runs"]:
            for entry in run["entries"]:
                rows.append(_comparison_row(Path(entry["model"]).name, result["target"]["name"], entry, summaries))
    return rows


def _comparison_row(name: str, target: str, entry: dict[str, Any], summaries: dict[str, Any]) -> list[Any]:
    variant, declared = name.split("_int8")[0].split(".")[0], registry.by_suffix(name)
    fmt = declared.name if declared is not None else Path(name).suffix[1:]
    precision = "int8 " + name.split("_int8_")[1].split(".")[0] if "_int8_" in name else "fp32"
    macs = summaries.get(variant + Path(name).suffix, {}).get("macs", 0)
    acc = entry.get("accuracy") or {}
    agreement = acc.get("agreement_with_baseline")
    stats = entry["stats"]
    return [
        variant,
        fmt,
        precision,
        target,
        entry["batch"],
        f"{entry['file_bytes'] / 1e6:.2f}",
        f"{macs / 1e6:.1f}",
        f"{stats['p50_ms']:.3f}",
        f"{stats['p90_ms']:.3f}",
        f"{entry['throughput_per_s']:.0f}",
        f"{acc['top1']:.4f}" if acc else "-",
        f"{agreement:.4f}" if agreement is not None else "-",
    ]


def render(
    title: str,
    meta: dict[str, Any],
    bench: dict[str, Any],
    summaries: dict[str, dict[str, Any]],
    plots: list[Path],
    sensitivity: dict[str, list[dict[str, Any]]],
    prune: dict[str, Any] | None,
    warnings: tuple[str, ...] | list[str] = (),
) -> str:
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts.append(f'<p class="meta">{html.escape(" · ".join(f"{k} {v}" for k, v in meta.items()))}</p>')
    parts += [f'<p class="err"><strong>warning:</strong> {html.escape(w)}</p>' for w in warnings]
    machines = [[name, line] for name, line in target_machines(bench["targets"])]
    if machines:
        parts += ["<h2>Machines</h2>", _table(["target", "CPU, architecture, cores, flags; runtimes"], machines)]
    for warning in target_warnings(bench["targets"]):
        parts.append(f'<p class="err">warning: {html.escape(warning)}</p>')
    header = ["variant", "format", "precision", "target", "batch", "MB", "MMACs", "p50 ms", "p90 ms", "img/s", "top-1"]
    header.append("agreement with original fp32")
    parts += ["<h2>Comparison</h2>", _table(header, comparison_rows(bench, summaries))]
    parts += [f'<p class="meta">{html.escape(line)}</p>' for line in target_accuracy(bench["targets"])]
    for result in bench["targets"]:
        if result["error"]:
            parts.append(f'<p class="err">{html.escape(result["target"]["name"])}: {html.escape(result["error"])}</p>')
    if plots:
        parts += ["<h2>Latency and accuracy</h2>", "".join(_image(p, p.stem) for p in plots)]
    if prune:
        parts += ["<h2>Pruning</h2>", _prune_table(prune)]
    for name, layers in sensitivity.items():
        rows = [[x["layer"], x["op"], f"{x['snr_db']:.1f}"] for x in layers]
        parts += [f"<h2>Quantization sensitivity: {html.escape(name)}</h2>", _table(["layer", "op", "SNR dB"], rows)]
    body = "\n".join(parts)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def _prune_table(prune: dict[str, Any]) -> str:
    before, after = prune["before"], prune["after"]
    rows = [[k, before[k], after[k], f"{after[k] / before[k]:.3f}"] for k in ("params", "macs", "weight_bytes_fp32")]
    if prune.get("top1"):
        top1 = prune["top1"]
        rows.append(["top-1", f"{top1['before']:.4f}", f"{top1['after']:.4f}", f"{top1['after'] / top1['before']:.3f}"])
    epochs = (prune.get("finetune") or {}).get("epochs", [])
    rows += [[f"epoch {e['epoch']}", "", f"loss {e['loss']:.3f}, train top-1 {e['top1']:.4f}", ""] for e in epochs]
    loud = "".join(f'<p class="err"><strong>warning:</strong> {html.escape(w)}</p>' for w in prune.get("warnings", []))
    plan = prune.get("latency_plan")
    if plan:
        rows += latency_plan_rows(plan)
        loud += f"<p>{html.escape(latency_plan_note(plan))}</p>"
    return f"<p>channel ratio {prune['ratio']:.3f}, {html.escape(prune['arch'])}</p>{loud}" + _table(
        ["", "before", "after", "after / before"], rows
    )
