"""The flags of quantization-aware fine-tuning (`quantize --qat`), passed on as one QatSettings or None."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from .training_flags import training_options

_TRAINING = ("epochs", "lr", "batch_size", "finetune_limit", "distill", "mixup", "resume", "device")


def qat_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    """`--qat DIR` and how it trains; each training flag without `--qat` is an error, never ignored."""
    options = [
        click.option("--qat", type=click.Path(), help="Labeled training images: fine-tune on the int8 grid (QAT)."),
        *training_options(epochs=2, lr=1e-4, distill=True, mixup=0.4, what="QAT", teacher="the float model"),
        click.option("--resume", is_flag=True, help="Continue an interrupted QAT from <out>.qat.pt."),
        click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"])),
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        from ..quantize.qat.settings import QatSettings

        ctx = click.get_current_context()
        given = [n for n in _TRAINING if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE]
        data, training = kwargs.pop("qat"), {name: kwargs.pop(name) for name in _TRAINING}
        if data is None and given:
            raise click.UsageError(f"--{given[0].replace('_', '-')} applies to --qat DIR: give the training images")
        kwargs["qat"] = None if data is None else QatSettings(
            data=data, epochs=training["epochs"], lr=training["lr"], batch_size=training["batch_size"],
            limit=training["finetune_limit"], distill=training["distill"], mixup=training["mixup"],
            resume=training["resume"], device=training["device"], map_by_position=kwargs["map_by_position"],
        )  # fmt: skip
        return func(**kwargs)

    return wrapper
