"""`edgeres deploy`: the fastest file for this machine within an accuracy bound, chosen by measurement."""

from __future__ import annotations

import json

import click

from ..formats import registry as formats
from ..options import LoadOptions
from .flags import MAP_HELP, OPTIMIZE_LEVELS, choices, load_options
from .say import warn


def fractions(value: str | None, param: click.Parameter) -> tuple[float, ...]:
    """A comma-separated list of numbers (validated as fractions by the settings)."""
    try:
        return tuple(float(part) for part in value.split(",")) if value else ()
    except ValueError:
        raise click.BadParameter(f"{value!r}: give numbers such as 0.75,0.5", param=param) from None


@click.command()
@click.argument("model", type=click.Path())
@click.option("--calib", required=True, help="Calibration images (folder, archive) or a calibration recipe.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (made; never merged).")
@click.option("--target", default="local-cpu", show_default=True, help="Where it runs: local-cpu or a board (SSH).")
@click.option(
    "--formats",
    callback=lambda _ctx, param, value: choices(value, param, formats.names()),
    help=f"Formats to consider, comma-separated ({', '.join(formats.names())}). Default: every one written here.",
)
@click.option("--data", type=click.Path(), help="Labeled images: the bound is on top-1 (default: agreement).")
@click.option("--limit", default=2000, show_default=True, type=click.IntRange(min=1), help="Images of --data.")
@click.option("--map-by-position", is_flag=True, help=MAP_HELP)
@click.option(
    "--max-drop",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Points of top-1 (with --data) or of agreement with the PyTorch model a candidate may lose.",
)
@click.option("--num", default=256, show_default=True, type=click.IntRange(min=1), help="Calibration images.")
@click.option("--finalists", default=2, show_default=True, type=click.IntRange(min=1), help="Int8 files re-made.")
@click.option(
    "--optimize",
    default="fast",
    show_default=True,
    type=click.Choice(OPTIMIZE_LEVELS),
    help="Preparation of the finalists (the screen is always without): none skips the second round.",
)
@click.option(
    "--prune",
    callback=lambda _ctx, param, value: fractions(value, param),
    help="Latency-pruned variants too, comma-separated fractions of the unpruned latency (e.g. 0.75,0.5).",
)
@click.option("--finetune", type=click.Path(), help="Labeled training images that fine-tune each pruned variant.")
@click.option("--epochs", default=5, show_default=True, type=click.IntRange(min=1), help="Fine-tuning epochs.")
@click.option("--finetune-limit", type=click.IntRange(min=1), help="Training images per epoch (class-stratified).")
@click.option(
    "--round-to", type=click.IntRange(min=1), help="Channel multiple of the pruned variants. Default: measured here."
)
@click.option("--force", is_flag=True, help="Replace an earlier deploy folder.")
@click.option("--resume", is_flag=True, help="Go on from what an interrupted run measured (kept in OUT.partial).")
@click.option("--json", "as_json", is_flag=True, help="Print deploy.json.")
@load_options
def deploy(
    model: str,
    calib: str,
    out: str,
    target: str,
    formats: tuple[str, ...] | None,
    data: str | None,
    limit: int,
    map_by_position: bool,
    max_drop: float,
    num: int,
    finalists: int,
    optimize: str,
    prune: tuple[float, ...],
    finetune: str | None,
    epochs: int,
    finetune_limit: int | None,
    round_to: int | None,
    force: bool,
    resume: bool,
    as_json: bool,
    load: LoadOptions,
) -> None:
    """Make every file edgeres can for this machine, measure each, hand over the fastest within --max-drop."""
    from ..deploy.run import deploy_model
    from ..deploy.settings import DeploySettings

    settings = DeploySettings(
        target=target, calib=calib, formats=formats or (), num=num, data=data, limit=limit,
        map_by_position=map_by_position, max_drop=max_drop, finalists=finalists, optimize=optimize, prune=prune,
        finetune=finetune, epochs=epochs, finetune_limit=finetune_limit, round_to=round_to,
        force=force,
        resume=resume, load=load,
    )  # fmt: skip
    result = deploy_model(model, out, settings)
    record = json.loads((result.out / "deploy.json").read_text(encoding="utf-8"))
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    for note in result.notes:
        warn(f"left out {note}")
    for row in sorted(result.rows, key=lambda r: r.p50):
        mark = "*" if row is result.chosen else " "
        accuracy = f"{row.accuracy:.2%}" if row.accuracy is not None else "-"
        click.echo(f"{mark} {row.candidate.name:<56} p50 {row.p50:8.3f} ms  {result.metric} {accuracy}")
    click.echo(
        f"chose {result.chosen.candidate.name}: {record['p50_ms']:.3f} ms p50, {result.metric} "
        f"{record['accuracy']:.2%} (reference {result.reference:.2%}, --max-drop {settings.max_drop}); "
        f"wrote {result.out} in {result.seconds:.0f} s"
    )
