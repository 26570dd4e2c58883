"""Terminal presentation (rich): tables and progress bars. Computes nothing."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from .oneline import one_line
from .report.tables import latency_plan_note, latency_plan_rows

if TYPE_CHECKING:
    from .demo import DemoResult
    from .inspection import InspectReport
    from .prune.report import PruneResult
    from .quantize import QuantizeResult
    from .remote import Target
    from .remote.check import TargetCheck

stderr = Console(stderr=True, highlight=False)


def _stdout() -> Console:
    # Piped output (files, CI logs, tests) gets a wide page instead of rich's 80-column default.
    wide = None if sys.stdout.isatty() else 140
    return Console(highlight=False, soft_wrap=True, width=wide)


@contextlib.contextmanager
def phase_progress(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """Yield `advance(phase, done, total)`; each phase gets its own bar on stderr."""
    if not enabled:
        yield lambda _phase, _done, _total: None
        return
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def advance(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        yield advance


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """Yield `advance(done, total)` for one bar."""
    with phase_progress(enabled) as advance:
        yield lambda done, total: advance(description, done, total)


@contextlib.contextmanager
def train_progress(enabled: bool = True) -> Iterator[Callable[[int, int, int, float, float], None]]:
    """Yield `step(epoch, step, steps, loss, top1)`: one bar per epoch with the running loss and accuracy."""
    if not enabled:
        yield lambda *_args: None
        return
    columns = (
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}  top-1 {task.fields[top1]:.3f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr) as progress:
        tasks: dict[int, TaskID] = {}

        def step(epoch: int, done: int, total: int, loss: float, top1: float) -> None:
            if epoch not in tasks:
                tasks[epoch] = progress.add_task(f"epoch {epoch}", total=total, loss=loss, top1=top1)
            progress.update(tasks[epoch], completed=done, loss=loss, top1=top1)

        yield step


def _fmt_count(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return str(value)


def print_inspection(report: InspectReport) -> None:
    card, summary = report.card, report.summary
    stdout = _stdout()
    head = Table.grid(padding=(0, 2))
    head.add_row("file", f"{report.path} ({report.file_bytes / 1e6:.1f} MB, sha256 {card.source_sha256[:12]})")
    head.add_row("arch", f"{card.arch}  ({report.spec.structure})")
    head.add_row("source", card.source_family or "unknown")
    head.add_row("classes", f"{card.num_classes}" + (f": {', '.join(card.labels[:10])}" if card.labels else ""))
    size = "x".join(map(str, card.input_size))
    geometry = f"resize {card.resize} + center crop {size}" if card.resize else f"{size}, no resize"
    head.add_row("input", f"{geometry}, {card.interpolation}")
    head.add_row("mean / std", f"{tuple(round(v, 4) for v in card.mean)} / {tuple(round(v, 4) for v in card.std)}")
    head.add_row("params", _fmt_count(summary.params))
    head.add_row("MACs", f"{_fmt_count(summary.macs)} at {size}")
    stdout.print(head)
    table = Table(title="per stage")
    for column in ("stage", "output", "params", "MACs"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage in summary.stages:
        shape = "x".join(map(str, stage.output_shape[1:]))
        table.add_row(stage.name, shape, _fmt_count(stage.params), _fmt_count(stage.macs))
    stdout.print(table)


def print_quantization(result: QuantizeResult) -> None:
    stdout = _stdout()
    recipe = result.recipe
    stdout.print(
        f"wrote {result.path} ({result.int8_bytes / 1e6:.2f} MB, {result.int8_bytes / result.fp32_bytes:.0%} of fp32) "
        f"in {result.seconds:.1f} s"
    )
    stdout.print(f"recipe  {type(recipe).__name__} for {recipe.target} ({result.target.reason}): {recipe}")
    if recipe.isa.needs_any:
        stdout.print(f"cpus    x86 CPUs need {' or '.join(recipe.isa.needs_any)}: {recipe.isa.why}")
    calib = result.calibration
    stdout.print(
        f"calib   {calib['n']} images from {calib['source']} (file list sha256 {str(calib['files_sha256'])[:12]})"
    )
    if result.accuracy is not None:
        acc = result.accuracy
        stdout.print(
            f"top-1   fp32 {acc.fp32_top1:.4f}  int8 {acc.int8_top1:.4f}  drop {acc.drop_pp:+.2f} pp  "
            f"agreement {acc.agreement:.2%}  ({acc.n} images, classes {acc.label_mapping}, same runtime)"
        )
    check = result.check
    if check is not None:
        stdout.print(
            f"check   int8 vs fp32 on {check.n} held-out calibration images: agreement {check.agreement:.2%}, "
            f"output SQNR {check.sqnr_db:.1f} dB (this CPU)"
        )
    else:
        stdout.print("check   none: no images beyond the calibration set to check on (use --eval)")
    if result.excluded:
        stdout.print(f"float   {', '.join(layer.name for layer in result.excluded)}")
    stdout.print(f"optimize {optimize_line(result)}")
    if result.qat is not None:
        stdout.print(f"qat     {qat_line(result.qat)}")
    table = Table(title="most sensitive layers (int8 vs fp32 output)")
    for column in ("layer", "op", "SNR dB"):
        table.add_column(column, justify="right" if column == "SNR dB" else "left")
    for layer, snr in result.sensitivity[:8]:
        table.add_row(layer.name, layer.op, f"{snr:.1f}")
    stdout.print(table)
    stdout.print(f"report  {result.report_path}")


def qat_line(qat: dict[str, Any]) -> str:
    """What quantization-aware fine-tuning did, and how faithfully the file keeps it."""
    log, agrees = qat["log"], qat["file_agrees_with_simulation"]
    line = f"{len(log['epochs'])} epoch(s) on {log['images']} images in {qat['seconds']:.0f} s, "
    line += f"{qat['simulated_tensors']} quantized tensors simulated"
    return line + (
        "" if agrees is None else f"; the file agrees with the simulated model on {agrees:.2%} of held-out images"
    )


def optimize_line(result: QuantizeResult) -> str:
    """What --optimize did: preparation, range choice, wider layers and their size cost."""
    parts = [result.optimize]
    prep = result.preparation
    if prep is not None:
        steps = [f"{len(prep.folded)} BN folded", f"{len(prep.equalized)} pairs equalized" * bool(prep.equalized)]
        if prep.layers:
            gain = sum(x.sqnr_after_db - x.sqnr_before_db for x in prep.layers) / len(prep.layers)
            what = "AdaRound + bias correction" if prep.techniques.adaround_iterations else "bias correction"
            steps.append(f"{what}: layer SQNR {gain:+.2f} dB on average")
        parts.append(", ".join(s for s in steps if s) + f" ({prep.seconds:.0f} s)")
    if result.ranges is not None:
        scores = ", ".join(f"{k} {v:.1f} dB" for k, v in result.ranges["sqnr_db"].items())
        parts.append(f"ranges: {result.ranges['chosen']} ({scores})")
    if result.precision is not None:
        kept = ", ".join(result.precision["kept"]) or "none"
        cost = result.precision["bytes_after"] - result.precision["bytes_before"]
        parts.append(f"wider ({result.precision['kind']}): {kept} ({cost / 1e3:+.0f} KB)")
    return "; ".join(parts)


def print_prune(result: PruneResult) -> None:
    stdout = _stdout()
    stdout.print(f"wrote {result.out} ({result.arch}, channel ratio {result.ratio:.3f})")
    table = Table(title="before -> after")
    for column in ("", "before", "after", "after / before"):
        table.add_column(column, justify="left" if not column else "right")
    rows = [
        ("params", "params"),
        ("MACs", "macs"),
        ("fp32 weight bytes", "weight_bytes_fp32"),
        ("file bytes", "file_bytes"),
    ]
    for label, key in rows:
        before, after = result.before[key], result.after[key]
        table.add_row(label, _fmt_count(before), _fmt_count(after), f"{after / before:.3f}")
    if result.top1:
        top1 = result.top1
        table.add_row(
            "top-1", f"{top1['before']:.4f}", f"{top1['after']:.4f}", f"{top1['after'] - top1['before']:+.4f}"
        )
    for precision in ("fp32", "int8"):
        rows_p = {r["model"]: r for r in result.latency or [] if r["precision"] == precision}
        if len(rows_p) == 2:
            b, a = rows_p["before"]["p50_ms"], rows_p["after"]["p50_ms"]
            table.add_row(f"ONNX {precision} p50 ms", f"{b:.3f}", f"{a:.3f}", f"{a / b:.3f}")
    stdout.print(table)
    if result.latency_plan:
        plan_table = Table(title=latency_plan_note(result.latency_plan))
        for column in ("", "before", "after", "after / before"):
            plan_table.add_column(column, justify="left" if not column else "right")
        for row in latency_plan_rows(result.latency_plan):
            plan_table.add_row(*row)
        stdout.print(plan_table)
    if result.finetune:
        for epoch in result.finetune.epochs:
            stdout.print(
                f"epoch {epoch.epoch}: loss {epoch.loss:.3f}  train top-1 {epoch.top1:.4f}  {epoch.seconds:.0f} s"
            )
    stdout.print(f"report  {result.report_path}")


def print_targets(targets: list[Target]) -> None:
    table = Table(title="targets")
    for column in ("name", "transport", "where", "python", "runtimes", "threads", "from"):
        table.add_column(column)
    for t in targets:
        where = t.address if t.transport == "ssh" else t.device
        runtimes = ", ".join(t.listed_runtimes()) + (" (installed here)" if t.probes_runtimes else "")
        table.add_row(t.name, t.transport, where, t.python, runtimes, str(t.threads or "default"), t.source)
    _stdout().print(table)


def print_targets_bench(record: dict[str, Any]) -> None:
    from .report.merged import merged_rows, target_accuracy, target_machines, target_warnings

    stdout = _stdout()
    for name, line in target_machines(record["targets"]):
        stdout.print(f"machine  {name}: {line}")
    header, rows = merged_rows(record["targets"])
    table = Table(title="p50 latency and top-1 per target (timed on each target)")
    for index, column in enumerate(header):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    stdout.print(table)
    for line in target_accuracy(record["targets"]):
        stdout.print(line, markup=False)
    for warning in target_warnings(record["targets"]):
        stderr.print(f"warning: {one_line(warning)}", markup=False)


def print_bench(run: dict[str, Any]) -> None:
    from .report.tables import SUMMARY_COLUMNS, accuracy_line, cells, label, machine_line, rows, visible_columns

    table_rows = rows(run)
    columns = visible_columns(table_rows, SUMMARY_COLUMNS)
    stdout = _stdout()
    stdout.print(f"machine  {machine_line(run['machine'])}")
    table = Table()
    for column in columns:
        table.add_column(label(column))
    for row in table_rows:
        table.add_row(*cells(row, columns))
    stdout.print(table)
    if any(row["unreliable"] for row in table_rows):
        stdout.print("* percentile from too few samples (p90 needs 64, p99 needs 662: raise --min-runs)")
    if accuracy_line(run):
        stdout.print(accuracy_line(run), markup=False)
    for warning in run.get("warnings", []):
        stderr.print(f"warning: {one_line(warning)}", markup=False)


def print_demo(result: DemoResult) -> None:
    stdout = _stdout()
    stdout.print(f"[bold]edgeres demo[/bold] wrote {result.out}")
    for line in result.lines():
        stdout.print(f"  {line}")
    print_targets_bench(result.pipeline.bench)


def print_target_check(check: TargetCheck) -> None:
    """`targets check`: where the target runs, its CPU and the int8 recipe for it, its packages and runtimes."""
    info = check.info
    lines = [
        f"{check.target.name}: reachable; Python {info['python']} ({info['machine']}, {info['cores']} cores)",
        f"  cpu       {info['cpu_model']}; flags {' '.join(info['cpu_flags']) or '-'}",
        f"  int8      --target {check.int8_target} fits this CPU",
        *(f"  {package:<15} {found or 'missing'}" for package, found in check.packages.items()),
        f"  runtimes  {', '.join(r.name for r in check.runtimes) or 'none'}",
    ]
    out = _stdout()
    for line in lines:
        out.print(line, markup=False)
