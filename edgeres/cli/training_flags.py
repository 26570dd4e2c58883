"""The flags that say how a fine-tuning trains, shared by `prune --finetune` and `quantize --qat` (each with
its own defaults: recovering pruned channels wants larger steps than adjusting to an int8 grid)."""

from __future__ import annotations

from typing import Any

import click


def training_options(*, epochs: int, lr: float, distill: bool, mixup: float, what: str, teacher: str) -> list[Any]:
    """--epochs, --lr, --batch-size, --finetune-limit, --distill/--no-distill and --mixup; help names `what`
    trains and the `teacher` it distils from."""
    rate = click.FloatRange(min=0, min_open=True)
    return [
        click.option("--epochs", default=epochs, show_default=True, type=click.IntRange(min=1), help=f"{what} epochs."),
        click.option("--lr", default=lr, show_default=True, type=rate, help=f"{what}'s SGD rate."),
        click.option("--batch-size", default=128, show_default=True, type=click.IntRange(min=1)),
        click.option("--finetune-limit", type=click.IntRange(min=1), help=f"{what} on a class-stratified subset of N."),
        click.option(
            "--distill/--no-distill", default=distill, show_default=True, help=f"{what} against {teacher}'s outputs."
        ),
        click.option(
            "--mixup",
            default=mixup,
            show_default=True,
            type=click.FloatRange(min=0),
            help="Train on blended image pairs, their shares drawn from Beta(ALPHA, ALPHA), the labels (and "
            f"{teacher}'s outputs) blended alike; 0: none.",
        ),
    ]
