"""`edgeres eval`: top-1/top-5 of any model file on labeled images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..options import LoadOptions
from ..runtimes.registry import names as runtime_names
from .flags import MAP_HELP, load_options
from .say import warn


@click.command(name="eval")
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
    from ..console import progress_bar
    from ..data import DEFAULT_MAX_PIXELS, open_images
    from ..evaluate import evaluate
    from ..options import RuntimeOptions
    from ..predict import open_predictor

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
        warn(f"{result.skipped} unreadable image(s) skipped, e.g. {result.skipped_example}")
    for warning in result.warnings:
        warn(f"{warning}")
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(
            f"{Path(model).name}: top-1 {result.top1:.4f}  top-{result.topk} {result.top5:.4f}  "
            f"on {result.n} images of {data}, classes {result.label_mapping} ({result.seconds:.1f} s)"
        )
