"""`edgeres bench`: latency, throughput, memory and accuracy of several models, here or on boards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..options import PRECISIONS
from ..predict import COMPILE_MODES
from ..runtimes.ort_providers import PROVIDERS as ORT_PROVIDERS
from ..runtimes.registry import names as runtime_names
from .flags import MAP_HELP, choices, cpu_list, int_list
from .say import warn

if TYPE_CHECKING:  # the remote package loads only when a run has targets
    from ..bench import BenchSettings
    from ..remote import TargetRunOptions


def _bench_on_targets(
    models: list[str], targets: list[str], options: TargetRunOptions, json_path: str | None, report_dir: str | None
) -> None:
    """Every target in parallel; one merged table; partial results are kept and written even on failure."""
    from ..console import phase_progress, print_targets_bench
    from ..remote import bench_targets, failed_targets, targets_record
    from ..report import write_target_reports

    with phase_progress() as advance:
        results = bench_targets([Path(m) for m in models], targets, options, advance)
    record = targets_record(results)
    print_targets_bench(record)
    paths = write_target_reports(
        record, json_path=Path(json_path) if json_path else None, report_dir=Path(report_dir) if report_dir else None
    )
    for path in paths:
        click.echo(f"wrote {path}")
    failure = failed_targets(results)
    if failure is not None:
        raise failure


_LOCAL_ONLY = (
    "runtime", "threads", "baseline", "cpus", "fp16", "compile_mode", "cuda_graphs", "provider", "precision",
    "csv_path",
)  # fmt: skip
_REMOTE_ONLY = ("remote_data", "accept_new_host_key", "timeout")


def _check_bench_flags(targets: tuple[str, ...]) -> None:
    """A flag that does not apply to this kind of run is an error, never silently ignored."""
    ctx = click.get_current_context()
    given = ctx.params
    names = {p.name: p.opts[0] for p in ctx.command.params if p.name}
    for name in _LOCAL_ONLY if targets else _REMOTE_ONLY:
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE and given[name]:
            hint = "target profiles set these per board" if targets else "it applies with --target only"
            raise click.UsageError(f"{names[name]} does not apply {'with' if targets else 'without'} --target: {hint}")
    if given["device"] != "cpu" and targets:
        raise click.UsageError("--device does not apply with --target: target profiles set the device")


@click.command()
@click.argument("models", nargs=-1, required=True, type=click.Path())
@click.option("--data", type=click.Path(), help="Labeled images: top-1/top-5 by each model's own runner.")
@click.option("--limit", type=click.IntRange(min=1), help="Score a class-stratified subset of N images.")
@click.option("--map-by-position", is_flag=True, help=MAP_HELP)
@click.option(
    "--runtime",
    callback=lambda _ctx, param, value: choices(value, param, runtime_names()),
    help=f"Runtimes, comma-separated ({', '.join(runtime_names())}); each file runs in those that open it. "
    "Default: from the file type.",
)
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]))
@click.option("--threads", type=click.IntRange(min=1), help="Intra-op threads (default: the runtime's).")
@click.option("--batch", "batches", default="1", show_default=True, help="Batch sizes, comma-separated.")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(min=0))
@click.option("--min-runs", default=100, show_default=True, type=click.IntRange(min=1))
@click.option("--min-seconds", default=1.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--baseline", type=click.Path(), help="Model the ratios refer to (default: the first).")
@click.option("--cpus", help="Pin the process to these CPUs, e.g. 4,5,6,7 (big cores).")
@click.option("--fp16", is_flag=True, help="PyTorch models: run in float16.")
@click.option("--compile", "compile_mode", type=click.Choice(COMPILE_MODES), help="PyTorch models: torch.compile.")
@click.option("--cuda-graphs", is_flag=True, help="PyTorch models on CUDA: time one CUDA graph replay per call.")
@click.option(
    "--provider",
    type=click.Choice(ORT_PROVIDERS),
    help="ONNX files on --device cuda: onnxruntime's CUDA provider (default), TensorRT, or TensorRT in fp16 "
    "(engines in <model>.trt/).",
)
@click.option(
    "--ov-precision",
    "precision",
    type=click.Choice(PRECISIONS),
    help="OpenVINO's inference precision: f32, or the plugin's default (bf16 on AMX CPUs). Default: f32 for "
    "float files, the plugin's default for int8 files.",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the run as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write one CSV row per model and batch.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), help="Write JSON, Markdown and plots.")
@click.option("--target", "targets", multiple=True, help="Profile name or ssh://user@host:port; repeat for several.")
@click.option("--remote-data", help="With --target: labeled images already on the board (instead of copying --data).")
@click.option("--accept-new-host-key", is_flag=True, help="With --target: trust a board's key on first contact.")
@click.option("--timeout", default=3600.0, show_default=True, type=click.FloatRange(min=1), help="Per remote run, s.")
def bench(
    models: tuple[str, ...],
    data: str | None,
    limit: int | None,
    map_by_position: bool,
    runtime: tuple[str, ...] | None,
    device: str,
    threads: int | None,
    batches: str,
    warmup: int,
    min_runs: int,
    min_seconds: float,
    baseline: str | None,
    cpus: str | None,
    fp16: bool,
    compile_mode: str | None,
    cuda_graphs: bool,
    provider: str | None,
    precision: str | None,
    json_path: str | None,
    csv_path: str | None,
    report_dir: str | None,
    targets: tuple[str, ...],
    remote_data: str | None,
    accept_new_host_key: bool,
    timeout: float,
) -> None:
    """Latency, throughput, memory and accuracy of several models, measured interleaved."""
    from ..bench import BenchSettings, TimingConfig
    from ..options import RuntimeOptions
    from ..report.owned import check_report_paths

    _check_bench_flags(targets)
    check_report_paths(*(Path(p) if p else None for p in (json_path, csv_path, report_dir)))
    if map_by_position and data is None and remote_data is None:
        raise click.UsageError("--map-by-position applies to --data: give the labeled images too")
    batch_sizes = tuple(int_list(batches, "--batch") or [1])
    timing = TimingConfig(warmup=warmup, min_runs=min_runs, min_seconds=min_seconds)
    if targets:
        from ..remote import TargetRunOptions

        on_targets = TargetRunOptions(
            data=data, remote_data=remote_data, limit=limit, map_by_position=map_by_position, batches=batch_sizes,
            timing=timing, accept_new_host_key=accept_new_host_key, timeout=timeout,
        )  # fmt: skip
        _bench_on_targets(list(models), list(targets), on_targets, json_path, report_dir)
        return
    pinned = cpu_list(cpus)
    options = RuntimeOptions(
        threads=threads, device=device, provider=provider, fp16=fp16, compile_mode=compile_mode, precision=precision,
        cuda_graphs=cuda_graphs,
    )  # fmt: skip
    settings = BenchSettings(
        data=data, limit=limit, map_by_position=map_by_position, runtimes=runtime or (), options=options,
        batches=batch_sizes, timing=timing, baseline=baseline, cpus=tuple(pinned) if pinned else None,
    )  # fmt: skip
    _bench_here(list(models), settings, json_path, csv_path, report_dir)


def _bench_here(
    models: list[str], settings: BenchSettings, json_path: str | None, csv_path: str | None, report_dir: str | None
) -> None:
    """A run on this machine: its table, skip warnings and the report files asked for."""
    from ..bench import bench_models
    from ..console import phase_progress, print_bench
    from ..report import write_reports

    with phase_progress() as advance:
        run = bench_models(models, settings, advance)
    for skip in run.skipped:
        warn(f"skipped batch {skip['batch']} of {skip['model']}: {skip['reason']}")
    record = run.to_dict()
    print_bench(record)
    written = write_reports(
        record,
        json_path=Path(json_path) if json_path else None,
        csv_path=Path(csv_path) if csv_path else None,
        report_dir=Path(report_dir) if report_dir else None,
    )
    for path in written:
        click.echo(f"wrote {path}")
