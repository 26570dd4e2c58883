"""`edgeres prune` (and the hidden `prune-job` a torchrun rank runs): residual-aware channel pruning."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..formats import registry as formats
from ..options import LoadOptions
from ..prune.options import IMPORTANCES, FinetuneOptions
from .flags import MAP_HELP, load_options
from .say import warn
from .training_flags import training_options

if TYPE_CHECKING:
    from ..prune.latency_goal import LatencyTarget


@dataclass(frozen=True)
class LatencyFlags:
    """--target-latency and the flags that say how it is timed, as given."""

    fraction: float | None
    precision: str | None
    caps: tuple[str, ...]
    on: str | None
    fmt: str | None
    quantize_target: str | None
    threads: int | None
    keep_depth: bool

    def goal(self, round_to: int | None) -> LatencyTarget | None:
        """The latency goal (None without --target-latency; then its other flags are a usage error)."""
        if self.fraction is None:
            others: dict[str, object] = {
                "--latency-precision": self.precision,
                "--quantize-target": self.quantize_target,
            }
            others |= {"--latency-threads": self.threads, "--latency-on": self.on, "--latency-format": self.fmt}
            others |= {"--cap-latency": self.caps or None, "--keep-depth": self.keep_depth or None}
            given = ", ".join(flag for flag, value in others.items() if value is not None)
            if given:
                raise click.UsageError(f"{given} appl{'ies' if ', ' not in given else 'y'} to --target-latency only")
            return None
        from ..prune.latency_goal import latency_goal

        caps = tuple(_precision_fraction(cap) for cap in self.caps)
        return latency_goal(
            self.fraction, self.precision, self.quantize_target, self.threads, round_to, caps, not self.keep_depth,
            on=self.on, fmt=self.fmt,
        )  # fmt: skip


def latency_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    """--target-latency and its timing flags, passed on as one LatencyFlags (`latency`)."""
    options = [
        click.option(
            "--target-latency",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            help="Latency to keep, measured on this machine (or --latency-on), e.g. 0.7 (widths by measured latency).",
        ),
        click.option(
            "--latency-precision", type=click.Choice(["int8", "fp32"]), help="What --target-latency times [int8]."
        ),
        click.option(
            "--cap-latency",
            "caps",
            multiple=True,
            metavar="PRECISION=F",
            help="With --target-latency: the other precision must also keep at most F of its latency, e.g. fp32=0.5.",
        ),
        click.option(
            "--latency-on",
            metavar="TARGET",
            help="Time --target-latency like this target profile (its threads, runtime, int8 recipe); a board over SSH "
            "times it on the board.",
        ),
        click.option(
            "--latency-format",
            metavar="FORMAT",
            help=f"The files --target-latency times: {' or '.join(formats.probe_names())} "
            f"[{formats.DEFAULT}, or --latency-on's].",
        ),
        click.option("--quantize-target", help="The int8 recipe --target-latency times (quantize --target) [x86]."),
        click.option("--latency-threads", type=click.IntRange(min=1), help="Threads --target-latency times with."),
        click.option(
            "--keep-depth",
            is_flag=True,
            help="With --target-latency: narrow channels only, never remove whole residual blocks.",
        ),
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["latency"] = LatencyFlags(
            kwargs.pop("target_latency"), kwargs.pop("latency_precision"), kwargs.pop("caps"),
            kwargs.pop("latency_on"), kwargs.pop("latency_format"), kwargs.pop("quantize_target"),
            kwargs.pop("latency_threads"), kwargs.pop("keep_depth"),
        )  # fmt: skip
        return func(**kwargs)

    return wrapper


def finetune_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    """How fine-tuning trains, passed on as one FinetuneOptions (`finetune`)."""
    options = training_options(
        epochs=5, lr=0.01, distill=False, mixup=0.0, what="Fine-tuning", teacher="the unpruned model"
    )
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        kwargs["finetune"] = FinetuneOptions(
            epochs=kwargs.pop("epochs"), lr=kwargs.pop("lr"), batch_size=kwargs.pop("batch_size"),
            distill=kwargs.pop("distill"), limit=kwargs.pop("finetune_limit"), mixup=kwargs.pop("mixup"),
        )  # fmt: skip
        return func(**kwargs)

    return wrapper


@click.command()
@click.argument("model", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Pruned model file (.safetensors).")
@click.option("--ratio", type=click.FloatRange(0, 1, max_open=True), help="Fraction of channels to remove.")
@click.option(
    "--target-macs", type=click.FloatRange(0, 1, min_open=True, max_open=True), help="MACs to keep, e.g. 0.5."
)
@click.option("--importance", default="l1", show_default=True, type=click.Choice(IMPORTANCES))
@click.option("--global", "global_pruning", is_flag=True, help="Rank channels across layers, not per layer.")
@click.option("--keep-residual-width", is_flag=True, help="Prune only inside blocks; residual streams keep width.")
@click.option(
    "--round-to", type=click.IntRange(min=1), help="Channel multiple (1: any) [8; measured with --target-latency]."
)
@click.option("--data", "importance_data", type=click.Path(), help="Labeled images for --importance taylor.")
@click.option("--finetune", "finetune_data", type=click.Path(), help="Labeled training images: fine-tune after.")
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
@click.option("--bench", is_flag=True, help="Time fp32/int8 exports of both models side by side.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@latency_flags
@finetune_flags
@load_options
def prune(
    model: str,
    out: str,
    ratio: float | None,
    target_macs: float | None,
    latency: LatencyFlags,
    importance: str,
    global_pruning: bool,
    keep_residual_width: bool,
    round_to: int | None,
    importance_data: str | None,
    finetune_data: str | None,
    finetune: FinetuneOptions,
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
    from ..console import phase_progress, print_prune, train_progress
    from ..prune.job import prune_checkpoint
    from ..prune.options import PruneOptions, channel_multiple
    from ..prune.settings import PruneSettings
    from ..prune.torchrun_env import is_main_process

    if sum(goal is not None for goal in (ratio, target_macs, latency.fraction)) != 1:
        raise click.UsageError("give exactly one of --ratio, --target-macs and --target-latency")
    options = PruneOptions(
        ratio=ratio or 0.0, importance=importance, global_pruning=global_pruning,
        keep_residual_width=keep_residual_width, round_to=channel_multiple(round_to),
    )  # fmt: skip
    settings = PruneSettings(
        options=options, target_macs=target_macs, target_latency=latency.goal(round_to),
        importance_data=importance_data, finetune_data=finetune_data, finetune=finetune, resume=resume,
        eval_data=eval_data, eval_limit=eval_limit, map_by_position=map_by_position, bench=bench, force=force,
        device=device, load=load,
    )  # fmt: skip
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
        warn(f"{warning}")


@click.command("prune-job", hidden=True)
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("report", type=click.Path(dir_okay=False, path_type=Path))
def prune_job(spec: Path, report: Path) -> None:
    """One rank of a prune job the pipeline wrote for torchrun as JSON (edgeres.prune.launch); not for users."""
    from ..prune.launch import run_rank

    run_rank(spec, report)


def _precision_fraction(text: str) -> tuple[str, float]:
    """`fp32=0.5` as ("fp32", 0.5); a UsageError naming the flag otherwise."""
    precision, _, fraction = text.partition("=")
    try:
        return precision.strip(), float(fraction)
    except ValueError:
        raise click.UsageError(f"--cap-latency takes PRECISION=FRACTION, e.g. fp32=0.5; got {text!r}") from None
