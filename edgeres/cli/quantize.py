"""`edgeres quantize`: int8 post-training quantization for a target's CPU, with an accuracy gate."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from ..formats import registry as formats
from ..options import LoadOptions
from .flags import MAP_HELP, OPTIMIZE_LEVELS, load_options
from .qat_flags import qat_flags
from .say import warn

if TYPE_CHECKING:
    from ..quantize.qat.settings import QatSettings


@click.command()
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
@qat_flags
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
    qat: QatSettings | None,
    load: LoadOptions,
) -> None:
    """Int8 quantization with calibration data, a per-target recipe and an accuracy gate; with --qat, fine-tuned
    on the int8 grid afterwards."""
    from ..console import phase_progress
    from ..prune.torchrun_env import is_main_process, launched_by_torchrun
    from ..quantize import QuantizeSettings, quantize_model
    from ..quantize.qat.job import quantize_on_ranks

    settings = QuantizeSettings(
        calib=calib, fmt=fmt, target=target, num=num, method=method, io=io, eval_data=eval_data,
        eval_limit=eval_limit, map_by_position=map_by_position, max_drop=max_drop, auto_fallback=auto_fallback,
        exclude=exclude, optimize=optimize, force=force, load=load, qat=qat,
    )  # fmt: skip
    shown = (not as_json or sys.stderr.isatty()) and is_main_process()  # under torchrun rank 0 alone reports
    with phase_progress(enabled=shown) as advance:
        if launched_by_torchrun():  # the ranks share QAT's fine-tuning; rank 0 writes and reports
            result = quantize_on_ranks(model, out, settings, advance)
        else:
            result = quantize_model(model, out, settings, advance)
    if result is None:
        return
    for warning in result.warnings:
        warn(f"{warning}")
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    from ..console import print_quantization

    print_quantization(result)
