"""`edgeres inspect`: a checkpoint's card, size and compute."""

from __future__ import annotations

import json

import click

from ..options import LoadOptions
from .flags import load_options


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@load_options
def inspect(checkpoint: str, as_json: bool, load: LoadOptions) -> None:
    """Show a checkpoint's model card, parameters, MACs and per-stage summary."""
    from ..inspection import inspect_checkpoint

    report = inspect_checkpoint(checkpoint, load)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    from ..console import print_inspection

    print_inspection(report)
