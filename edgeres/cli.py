"""The `edgeres` command: each subcommand parses flags, calls one library function, and prints.

Library errors (EdgeresError) become one line on stderr and a non-zero exit here, and only here.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import EdgeresError
from .formats import registry as formats
from .predict import COMPILE_MODES
from .runtimes.ort_providers import PROVIDERS as ORT_PROVIDERS
from .runtimes.registry import names as runtime_names

if TYPE_CHECKING:  # the remote package loads only when a run has targets
    from .options import LoadOptions
    from .remote import TargetRunOptions

MAP_HELP = "Score the data's i-th class folder (sorted) as output i, when its names differ from the model's."
IMPORTANCE_NAMES = ("l1", "l2", "bn-scale", "taylor")  # edgeres.prune.IMPORTANCES, without importing torch
OPTIMIZE_LEVELS = ("none", "fast", "best")  # edgeres.quantize.prepare.optimize.LEVELS, without importing torch


class _Group(click.Group):
    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, standalone_mode: bool = True, **kw: Any
    ) -> Any:
        """Bad flags, like every other error, are one `error:` line (click's usage block is several)."""
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **kw)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **kw)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
            click.echo(f"error: {exc.format_message().rstrip('.')}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeresError as exc:
            if ctx.meta.get("edgeres.debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:  # disk full, read-only, permissions where no library code expected them
            if ctx.meta.get("edgeres.debug"):
                raise
            from ._io import os_error_message

            click.echo(f"error: {os_error_message(exc)}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="edgeres")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Take trained ResNets to the edge: inspect, evaluate, export, quantize and benchmark them; run the demo."""
    ctx.meta["edgeres.debug"] = debug


def load_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Flags that say how to read a checkpoint and override its model card."""
    options = [
        click.option("--arch", help="Architecture name (default: inferred from the weights)."),
        click.option("--num-classes", type=int, help="Expected class count; an error if the weights disagree."),
        click.option("--trust", is_flag=True, help="Allow pickled modules / TorchScript: runs code from the file."),
        click.option("--key", help="Dict key or parameter prefix of the weights inside the file."),
        click.option("--card", "card_file", type=click.Path(dir_okay=False), help="TOML/JSON of card fields."),
        click.option("--input-size", help="Model input size, e.g. 224 or 224x192."),
        click.option("--resize", type=int, help="Resize the shorter side to this before the center crop."),
        click.option("--mean", help="Normalisation mean, three comma-separated values."),
        click.option("--std", help="Normalisation std, three comma-separated values."),
        click.option("--labels", help="Class names: a file with one per line, or comma-separated."),
        click.option("--interpolation", type=click.Choice(["bilinear", "bicubic", "nearest"])),
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        from .card import read_labels
        from .options import CardOverrides, LoadOptions

        overrides = {k: kwargs.pop(k) for k in ("input_size", "resize", "mean", "std", "interpolation")}
        labels = kwargs.pop("labels")
        kwargs["load"] = LoadOptions(
            arch=kwargs.pop("arch"),
            num_classes=kwargs.pop("num_classes"),
            trust=kwargs.pop("trust"),
            key=kwargs.pop("key"),
            card_file=kwargs.pop("card_file"),
            overrides=CardOverrides(**overrides, labels=read_labels(labels) if labels else None),
        )
        return func(**kwargs)

    return wrapper


@cli.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@load_options
def inspect(checkpoint: str, as_json: bool, load: LoadOptions) -> None:
    """Show a checkpoint's model card, parameters, MACs and per-stage summary."""
    from .inspection import inspect_checkpoint

    report = inspect_checkpoint(checkpoint, load)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    from .console import print_inspection

    print_inspection(report)


@cli.command(name="eval")
@click.argument("model", type=click.Path())
@click.option("--data", required=True, type=click.Path(), help="ImageFolder tree, CIFAR archive or .npz.")
@click.option("--split", default="test", type=click.Choice(["train", "test"]), help="Split inside CIFAR archives.")
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate a class-stratified subset of N images.")
@click.option("--seed", default=0, show_default=True, help="Seed of the --limit subset.")
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(min=1))
@click.option("--strict", is_flag=True, help="Fail on the first unreadable image instead of skipping it.")
@click.option("--max-pixels", default=None, type=click.IntRange(min=1), help="Refuse larger images (bombs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (top1, top5, n, ...).")
@click.option("--map-by-position", is_flag=True, help=MAP_HELP)
@click.option("--runtime", type=click.Choice(runtime_names()), help="Default: from the file type.")
@click.option("--threads", type=click.IntRange(min=1), help="Intra-op threads (default: the runtime's).")
@load_options
def eval_(
    model: str,
    data: str,
    split: str,
    limit: int | None,
    seed: int,
    batch_size: int,
    strict: bool,
    max_pixels: int | None,
    as_json: bool,
    map_by_position: bool,
    runtime: str | None,
    threads: int | None,
    load: LoadOptions,
) -> None:
    """Top-1/top-5 accuracy of a checkpoint (or exported model) on labeled images, in any runtime that opens it."""
    from .console import progress_bar
    from .data import DEFAULT_MAX_PIXELS, open_images
    from .evaluate import evaluate
    from .options import RuntimeOptions
    from .predict import open_predictor

    if max_pixels:
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = max_pixels  # PIL refuses bombs at open(); this process honours the flag
    predictor = open_predictor(model, runtime, RuntimeOptions(threads=threads), load)
    images = open_images(data, split=split, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
    with progress_bar("evaluating", enabled=not as_json or sys.stderr.isatty()) as advance:
        result = evaluate(
            predictor,
            images,
            limit=limit,
            seed=seed,
            batch_size=batch_size,
            strict=strict,
            progress=advance,
            model_name=model,
            by_position=map_by_position,
        )
    predictor.close()
    if result.skipped:
        click.echo(f"warning: {result.skipped} unreadable image(s) skipped, e.g. {result.skipped_example}", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(
            f"{Path(model).name}: top-1 {result.top1:.4f}  top-{result.topk} {result.top5:.4f}  "
            f"on {result.n} images of {data}, classes {result.label_mapping} ({result.seconds:.1f} s)"
        )


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=f"Output file ({formats.listing(' or ')}).")
@click.option("--format", "fmt", type=click.Choice(formats.names()), help="Default: from the --out suffix.")
@click.option("--fp16", is_flag=True, help="Float16 weights (TFLite) / float16 compute with float32 I/O (ONNX).")
@click.option("--layout", type=click.Choice(["nchw", "nhwc"]), help="Input layout (default ONNX nchw, TFLite nhwc).")
@click.option("--batch", help="Fixed batch size N, or 'dynamic' (default ONNX dynamic, TFLite 1).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--no-verify", is_flag=True, help="Skip running the file against PyTorch.")
@click.option("--verify-data", type=click.Path(), help="Verify on these images (default: random inputs).")
@click.option("--verify-limit", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print the export report as JSON.")
@load_options
def export(
    model: str,
    out: str,
    fmt: str | None,
    fp16: bool,
    layout: str | None,
    batch: str | None,
    force: bool,
    no_verify: bool,
    verify_data: str | None,
    verify_limit: int,
    as_json: bool,
    load: LoadOptions,
) -> None:
    """Export a checkpoint to ONNX or TFLite, card embedded, verified against PyTorch."""
    from .export import ExportOptions, export_model

    options = ExportOptions(fp16=fp16, layout=layout, batch=batch)
    result = export_model(
        model,
        out,
        fmt=fmt,
        options=options,
        verify_output=not no_verify,
        verify_data=verify_data,
        verify_limit=verify_limit,
        force=force,
        load_options=load,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    io = result.io
    click.echo(
        f"wrote {result.path} ({result.file_bytes / 1e6:.2f} MB, {result.format} {io.precision}, {io.layout}, "
        f"batch {io.batch or 'dynamic'}) in {result.seconds:.1f} s"
    )
    check = result.verification
    if check is not None:
        click.echo(
            f"verified on {check.n} {'real images' if check.inputs != 'random' else 'random inputs'}: top-1 "
            f"agreement {check.top1_agreement:.2%}, max |diff| {check.max_abs_diff:.2e} "
            f"({check.relative_diff:.1e} of the logit range); report {result.report_path}"
        )


@cli.command()
@click.argument("model", type=click.Path())
@click.option(
    "--calib",
    required=True,
    help="Calibration images (folder, CIFAR archive, .npz), a calibration recipe (.toml), or a shipped recipe's "
    "name (calibration/, e.g. cifar10-train-512).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=f"Output file ({formats.listing(' or ')}).")
@click.option("--format", "fmt", type=click.Choice(formats.int8_names()), help="Default: from the --out suffix.")
@click.option(
    "--target",
    default="x86",
    show_default=True,
    help="x86 (portable: exact on every x86 CPU), x86-vnni (VNNI/AMX CPUs), arm64, generic, auto (this CPU), "
    "or a target profile name (see `edgeres targets`).",
)
@click.option(
    "--num",
    type=click.IntRange(min=1),
    help="Calibration images (default: the recipe's; 512 for images given directly).",
)
@click.option(
    "--method",
    help="Calibration method. " + formats.method_help(),
)
@click.option(
    "--io",
    default="float",
    show_default=True,
    type=click.Choice(formats.io_choices()),
    help="The int8 file's interface type. " + formats.io_help(),
)
@click.option("--eval", "eval_data", type=click.Path(), help="Labeled images: measure fp32 and int8 top-1.")
@click.option("--eval-limit", type=click.IntRange(min=1), help="Evaluate a stratified subset of N images.")
@click.option("--map-by-position", is_flag=True, help=MAP_HELP)
@click.option(
    "--max-drop", type=click.FloatRange(min=0), help="Fail when int8 top-1 is more than this many points below fp32."
)
@click.option("--auto-fallback", is_flag=True, help="Keep the most sensitive layers in float until --max-drop holds.")
@click.option("--exclude", multiple=True, help="Keep this layer (or block, e.g. layer1.0) in float; repeatable.")
@click.option(
    "--optimize",
    type=click.Choice(OPTIMIZE_LEVELS),
    help="Preparation effort: none (plain recipe), fast (fold, equalize, bias correction, range search; "
    "seconds), best (adds AdaRound and wider first/last layers; minutes). Default: fast (an exported file: "
    "range search only).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the quantization report as JSON.")
@load_options
def quantize(
    model: str,
    calib: str,
    out: str,
    fmt: str | None,
    target: str,
    num: int | None,
    method: str | None,
    io: str,
    eval_data: str | None,
    eval_limit: int | None,
    map_by_position: bool,
    max_drop: float | None,
    auto_fallback: bool,
    exclude: tuple[str, ...],
    optimize: str | None,
    force: bool,
    as_json: bool,
    load: LoadOptions,
) -> None:
    """Int8 post-training quantization with calibration data, a per-target recipe and an accuracy gate."""
    from .console import phase_progress
    from .quantize import quantize_model

    with phase_progress(enabled=not as_json or sys.stderr.isatty()) as advance:
        result = quantize_model(
            model,
            out,
            calib=calib,
            fmt=fmt,
            target=target,
            num=num,
            method=method,
            io=io,
            eval_data=eval_data,
            eval_limit=eval_limit,
            map_by_position=map_by_position,
            max_drop=max_drop,
            auto_fallback=auto_fallback,
            exclude=exclude,
            optimize=optimize,
            force=force,
            load_options=load,
            progress=advance,
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    from .console import print_quantization

    print_quantization(result)


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Pruned model file (.safetensors).")
@click.option("--ratio", type=click.FloatRange(0, 1, max_open=True), help="Fraction of channels to remove.")
@click.option(
    "--target-macs", type=click.FloatRange(0, 1, min_open=True, max_open=True), help="MACs to keep, e.g. 0.5."
)
@click.option("--importance", default="l1", show_default=True, type=click.Choice(IMPORTANCE_NAMES))
@click.option("--global", "global_pruning", is_flag=True, help="Rank channels across layers, not per layer.")
@click.option("--keep-residual-width", is_flag=True, help="Prune only inside blocks; residual streams keep width.")
@click.option(
    "--target-latency",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Latency to keep, measured on this machine (or --latency-on), e.g. 0.7 (widths by measured latency).",
)
@click.option("--latency-precision", type=click.Choice(["int8", "fp32"]), help="What --target-latency times [int8].")
@click.option(
    "--cap-latency",
    "caps",
    multiple=True,
    metavar="PRECISION=F",
    help="With --target-latency: the other precision must also keep at most F of its latency, e.g. fp32=0.5.",
)
@click.option(
    "--latency-on",
    metavar="TARGET",
    help="Time --target-latency like this target profile (its threads, runtime, int8 recipe); a board over SSH "
    "times it on the board.",
)
@click.option(
    "--latency-format",
    metavar="FORMAT",
    help=f"The files --target-latency times: {' or '.join(formats.probe_names())} "
    f"[{formats.DEFAULT}, or --latency-on's].",
)
@click.option("--quantize-target", help="The int8 recipe --target-latency times (quantize --target) [x86].")
@click.option("--latency-threads", type=click.IntRange(min=1), help="Threads --target-latency times with.")
@click.option(
    "--keep-depth",
    is_flag=True,
    help="With --target-latency: narrow channels only, never remove whole residual blocks.",
)
@click.option(
    "--round-to", type=click.IntRange(min=1), help="Channel multiple (1: any) [8; measured with --target-latency]."
)
@click.option("--data", "importance_data", type=click.Path(), help="Labeled images for --importance taylor.")
@click.option("--finetune", "finetune_data", type=click.Path(), help="Labeled training images: fine-tune after.")
@click.option("--epochs", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=0.01, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--batch-size", default=128, show_default=True, type=click.IntRange(min=1))
@click.option("--finetune-limit", type=click.IntRange(min=1), help="Train on a class-stratified subset of N.")
@click.option("--distill", is_flag=True, help="Fine-tune against the unpruned model's soft outputs too.")
@click.option("--resume", is_flag=True, help="Continue an interrupted fine-tuning from <out>.finetune.pt.")
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    type=click.Choice(["cpu", "cuda"]),
    help="Where fine-tuning runs; under torchrun each process takes its LOCAL_RANK's GPU (NCCL; gloo on CPU).",
)
@click.option("--eval", "eval_data", type=click.Path(), help="Labeled test images: top-1 before and after.")
@click.option("--eval-limit", type=click.IntRange(min=1), help="Score a class-stratified subset of N images.")
@click.option("--map-by-position", is_flag=True, help=MAP_HELP)
@click.option("--bench", is_flag=True, help="Time ONNX fp32/int8 exports of both models side by side.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@load_options
def prune(
    model: str,
    out: str,
    ratio: float | None,
    target_macs: float | None,
    target_latency: float | None,
    latency_precision: str | None,
    caps: tuple[str, ...],
    latency_on: str | None,
    latency_format: str | None,
    quantize_target: str | None,
    latency_threads: int | None,
    keep_depth: bool,
    importance: str,
    global_pruning: bool,
    keep_residual_width: bool,
    round_to: int | None,
    importance_data: str | None,
    finetune_data: str | None,
    epochs: int,
    lr: float,
    batch_size: int,
    finetune_limit: int | None,
    distill: bool,
    resume: bool,
    device: str,
    eval_data: str | None,
    eval_limit: int | None,
    map_by_position: bool,
    bench: bool,
    force: bool,
    as_json: bool,
    load: LoadOptions,
) -> None:
    """Remove whole channels (residual-coupled ones together; with --target-latency, whole residual blocks
    too where narrower channels are not enough), fine-tune, and save a smaller dense model."""
    from .console import phase_progress, print_prune, train_progress
    from .prune.distributed import is_main_process
    from .prune.job import prune_checkpoint
    from .prune.latency_goal import latency_goal
    from .prune.options import FinetuneOptions, PruneOptions, channel_multiple
    from .prune.settings import PruneSettings

    if sum(goal is not None for goal in (ratio, target_macs, target_latency)) != 1:
        raise click.UsageError("give exactly one of --ratio, --target-macs and --target-latency")
    latency_flags: dict[str, object] = {"--latency-precision": latency_precision, "--quantize-target": quantize_target}
    latency_flags["--latency-threads"] = latency_threads
    latency_flags["--latency-on"] = latency_on
    latency_flags["--latency-format"] = latency_format
    latency_flags["--cap-latency"] = caps or None
    latency_flags["--keep-depth"] = keep_depth or None
    if target_latency is None and any(value is not None for value in latency_flags.values()):
        given = ", ".join(flag for flag, value in latency_flags.items() if value is not None)
        raise click.UsageError(f"{given} appl{'ies' if ', ' not in given else 'y'} to --target-latency only")
    options = PruneOptions(
        ratio=ratio or 0.0,
        importance=importance,
        global_pruning=global_pruning,
        keep_residual_width=keep_residual_width,
        round_to=channel_multiple(round_to),
    )
    goal = None
    if target_latency is not None:
        parsed = tuple(_precision_fraction(cap) for cap in caps)
        goal = latency_goal(
            target_latency,
            latency_precision,
            quantize_target,
            latency_threads,
            round_to,
            parsed,
            not keep_depth,
            on=latency_on,
            fmt=latency_format,
        )
    settings = PruneSettings(
        options=options,
        target_macs=target_macs,
        target_latency=goal,
        importance_data=importance_data,
        finetune_data=finetune_data,
        finetune=FinetuneOptions(epochs=epochs, lr=lr, batch_size=batch_size, distill=distill, limit=finetune_limit),
        resume=resume,
        eval_data=eval_data,
        eval_limit=eval_limit,
        map_by_position=map_by_position,
        bench=bench,
        force=force,
        device=device,
        load=load,
    )
    shown = not as_json and is_main_process()  # under torchrun rank 0 alone draws progress and reports
    with phase_progress(shown) as advance, train_progress(shown) as on_step:
        result = prune_checkpoint(model, out, settings, progress=advance, train_progress=on_step)
    if result is None:  # another rank of a torchrun job: rank 0 reports
        return
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        print_prune(result)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@cli.command("prune-job", hidden=True)
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("report", type=click.Path(dir_okay=False, path_type=Path))
def prune_job(spec: Path, report: Path) -> None:
    """One rank of a prune job the pipeline pickled for torchrun (edgeres.prune.launch); not for users."""
    from .prune.launch import run_rank

    run_rank(spec, report)


def _precision_fraction(text: str) -> tuple[str, float]:
    """`fp32=0.5` as ("fp32", 0.5); a UsageError naming the flag otherwise."""
    precision, _, fraction = text.partition("=")
    try:
        return precision.strip(), float(fraction)
    except ValueError:
        raise click.UsageError(f"--cap-latency takes PRECISION=FRACTION, e.g. fp32=0.5; got {text!r}") from None


def _bench_on_targets(
    models: list[str], targets: list[str], options: TargetRunOptions, json_path: str | None, report_dir: str | None
) -> None:
    """Every target in parallel; one merged table; partial results are kept and written even on failure."""
    from ._io import write_text_atomic
    from .console import phase_progress, print_targets_bench
    from .remote import SCHEMA, bench_targets
    from .report.merged import merged_markdown

    with phase_progress() as advance:
        results = bench_targets([Path(m) for m in models], targets, options, advance)
    record: dict[str, Any] = {"schema": SCHEMA, "targets": [r.to_dict() for r in results]}
    print_targets_bench(record)
    outputs = {json_path: json.dumps(record, indent=2)} if json_path else {}
    if report_dir:
        outputs[str(Path(report_dir) / "targets.md")] = merged_markdown(record["targets"])
        outputs[str(Path(report_dir) / "targets.json")] = json.dumps(record, indent=2)
    for path, text in outputs.items():
        click.echo(f"wrote {write_text_atomic(path, text, force=True)}")
    failed = [r.error for r in results if r.error]
    if failed:
        raise EdgeresError(f"{len(failed)} of {len(results)} target(s) failed: " + "; ".join(failed))


@cli.group(invoke_without_command=True)
@click.pass_context
def targets(ctx: click.Context) -> None:
    """List target profiles (shipped, and yours in ~/.config/edgeres/targets/); see `check` and `clean`."""
    if ctx.invoked_subcommand is not None:
        return
    from .console import print_targets
    from .remote import load_targets

    print_targets(list(load_targets().values()))


@targets.command(name="check")
@click.argument("name")
@click.option("--accept-new-host-key", is_flag=True, help="Trust the board's key on first contact.")
@click.option("--json", "as_json", is_flag=True)
def targets_check(name: str, accept_new_host_key: bool, as_json: bool) -> None:
    """Probe a target: reachable, Python, numpy, runtimes and their versions; sweeps stale run folders."""
    from .isa import cpu_from_record, target_for_cpu
    from .remote import check_target, resolve_target
    from .runtimes.registry import runtimes as all_runtimes
    from .runtimes.registry import usable as usable_runtimes

    target = resolve_target(name)
    info = check_target(target, accept_new_host_key=accept_new_host_key)
    if as_json:
        click.echo(json.dumps(info))
        return
    packages = info.get("packages") or info.get("versions", {})
    click.echo(f"{target.name}: reachable; Python {info['python']} ({info['machine']}, {info['cores']} cores)")
    click.echo(f"  cpu       {info['cpu_model']}; flags {' '.join(info['cpu_flags']) or '-'}")
    click.echo(f"  int8      --target {target_for_cpu(cpu_from_record(info))} fits this CPU")
    for package, found in packages.items():
        click.echo(f"  {package:<15} {found or 'missing'}")
    runtimes = usable_runtimes(packages, board=target.transport != "local")
    click.echo(f"  runtimes  {', '.join(r.name for r in runtimes) or 'none'}")
    if not packages.get("numpy") or not runtimes:
        hint = " ".join(r.install_hint() for r in all_runtimes() if r.board)
        raise EdgeresError(
            f"{target.name}: needs numpy and a runtime: {info.get('executable', target.python)} -m pip install "
            f"numpy pillow {hint}"
        )


@targets.command(name="clean")
@click.argument("name")
@click.option("--accept-new-host-key", is_flag=True)
def targets_clean(name: str, accept_new_host_key: bool) -> None:
    """Remove run folders that interrupted runs left on a board (those whose runner is gone)."""
    from .remote import check_target, resolve_target

    info = check_target(resolve_target(name), accept_new_host_key=accept_new_host_key)
    click.echo(f"removed {len(info.get('swept', []))} stale run folder(s)")


def _choices(value: str | None, param: click.Parameter, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
    """A comma-separated list of `allowed` names, each once; BadParameter naming the option otherwise."""
    if not value:
        return None
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise click.BadParameter(
            f"{unknown[0] if unknown else value!r} is not one of {', '.join(allowed)}", param=param
        )
    return names


def _int_list(value: str | None, option: str, minimum: int = 1) -> list[int] | None:
    """Comma-separated integers of at least `minimum`; BadParameter naming the option otherwise."""
    if not value:
        return None
    try:
        numbers = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint=option) from None
    low = [n for n in numbers if n < minimum]
    if low or not numbers:
        raise click.BadParameter(f"{low[0] if low else value!r} is below {minimum}", param_hint=option)
    return numbers


def _cpu_list(value: str | None) -> list[int] | None:
    """--cpus: CPU numbers this process may run on (sched_getaffinity), else BadParameter listing them."""
    cpus = _int_list(value, "--cpus", minimum=0)
    if cpus is None:
        return None
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    missing = [c for c in cpus if c not in allowed]
    if missing:
        raise click.BadParameter(
            f"CPU {missing[0]} is not one this process may use; choose among {','.join(map(str, allowed))}",
            param_hint="--cpus",
        )
    return cpus


_LOCAL_ONLY = ("runtime", "threads", "baseline", "cpus", "fp16", "compile_mode", "cuda_graphs", "provider", "csv_path")
_REMOTE_ONLY = ("remote_data", "accept_new_host_key", "timeout")


def _check_bench_flags(targets: tuple[str, ...], given: dict[str, Any]) -> None:
    """A flag that does not apply to this kind of run is an error, never silently ignored."""
    ctx = click.get_current_context()
    names = {p.name: p.opts[0] for p in ctx.command.params if p.name}
    for name in _LOCAL_ONLY if targets else _REMOTE_ONLY:
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE and given[name]:
            hint = "target profiles set these per board" if targets else "it applies with --target only"
            raise click.UsageError(f"{names[name]} does not apply {'with' if targets else 'without'} --target: {hint}")
    if given["device"] != "cpu" and targets:
        raise click.UsageError("--device does not apply with --target: target profiles set the device")


@cli.command()
@click.argument("models", nargs=-1, required=True, type=click.Path())
@click.option("--data", type=click.Path(), help="Labeled images: top-1/top-5 by each model's own runner.")
@click.option("--limit", type=click.IntRange(min=1), help="Score a class-stratified subset of N images.")
@click.option("--map-by-position", is_flag=True, help=MAP_HELP)
@click.option(
    "--runtime",
    callback=lambda _ctx, param, value: _choices(value, param, runtime_names()),
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
    json_path: str | None,
    csv_path: str | None,
    report_dir: str | None,
    targets: tuple[str, ...],
    remote_data: str | None,
    accept_new_host_key: bool,
    timeout: float,
) -> None:
    """Latency, throughput, memory and accuracy of several models, measured interleaved."""
    from .bench import TimingConfig, bench_models
    from .console import phase_progress, print_bench
    from .report import write_reports

    _check_bench_flags(targets, locals())
    if map_by_position and data is None and remote_data is None:
        raise click.UsageError("--map-by-position applies to --data: give the labeled images too")
    batch_sizes = tuple(_int_list(batches, "--batch") or [1])
    pinned = _cpu_list(cpus)
    timing = TimingConfig(warmup=warmup, min_runs=min_runs, min_seconds=min_seconds)
    if targets:
        from .remote import TargetRunOptions

        options = TargetRunOptions(
            data, remote_data, limit, map_by_position, batch_sizes, timing, accept_new_host_key, timeout
        )
        _bench_on_targets(list(models), list(targets), options, json_path, report_dir)
        return
    with phase_progress() as advance:
        run = bench_models(
            list(models),
            data=data,
            limit=limit,
            map_by_position=map_by_position,
            runtime=runtime,
            device=device,
            threads=threads,
            batches=batch_sizes,
            timing=timing,
            baseline=baseline,
            cpus=pinned,
            fp16=fp16,
            compile_mode=compile_mode,
            cuda_graphs=cuda_graphs,
            provider=provider,
            progress=advance,
        )
    record = run.to_dict()
    for skip in run.skipped:
        click.echo(f"warning: skipped batch {skip['batch']} of {skip['model']}: {skip['reason']}", err=True)
    print_bench(record)
    written = write_reports(
        record,
        json_path=Path(json_path) if json_path else None,
        csv_path=Path(csv_path) if csv_path else None,
        report_dir=Path(report_dir) if report_dir else None,
    )
    for path in written:
        click.echo(f"wrote {path}")


@cli.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--out", default="edgeres-run", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="Continue an interrupted run (fine-tuning from its last epoch).")
@click.option("--example", is_flag=True, help="Print a commented starter config and exit.")
def pipeline(config: str | None, out: str, resume: bool, example: bool) -> None:
    """Run the stages a config file enables; unchanged stages are skipped; ends with report.html."""
    from .pipeline import example_config, run_pipeline

    if example:
        click.echo(example_config(), nl=False)
        return
    if config is None:
        raise click.UsageError("give a CONFIG.toml (edgeres pipeline --example > pipeline.toml)")
    from .console import phase_progress, print_targets_bench

    with phase_progress() as advance:
        result = run_pipeline(config, out, resume=resume, progress=advance)
    print_targets_bench(result.bench)
    click.echo(f"stages run {len(result.ran)}, skipped (unchanged) {len(result.skipped)}")
    click.echo(f"manifest {result.manifest}")
    click.echo(f"report   {result.report}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    failed = [f"{t['target']['name']}: {t['error']}" for t in result.bench["targets"] if t["error"]]
    if failed:  # the report shows what was measured; the exit status says not everything was
        raise EdgeresError(f"{len(failed)} target(s) failed (see the report): " + "; ".join(failed))


@cli.command()
@click.option("--out", default="edgeres-demo", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--train-steps",
    default=600,  # edgeres.demo.train.DEMO_STEPS, without importing torch here
    show_default=True,
    type=click.IntRange(min=1),
    help="SGD steps: a fixed amount of work, so the same command trains the same model on any machine.",
)
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing demo output folder.")
def demo(out: str, train_steps: int, seed: int, force: bool) -> None:
    """Run the whole toolkit on a generated data set and a freshly trained model (no downloads)."""
    from .console import phase_progress, print_demo
    from .demo import run_demo

    with phase_progress() as advance:
        result = run_demo(Path(out), train_steps=train_steps, seed=seed, force=force, progress=advance)
    print_demo(result)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgeres")


if __name__ == "__main__":  # `python -m edgeres.cli`, as torchrun runs it
    main()
