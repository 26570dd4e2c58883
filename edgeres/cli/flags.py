"""Options several commands share, turned into typed settings, and the parsers of list-valued flags."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click

MAP_HELP = "Score the data's i-th class folder (sorted) as output i, when its names differ from the model's."
OPTIMIZE_LEVELS = ("none", "fast", "best")  # edgeres.quantize.prepare.optimize.LEVELS, without importing torch


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
        from ..card import read_labels
        from ..options import CardOverrides, LoadOptions

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


def choices(value: str | None, param: click.Parameter, allowed: tuple[str, ...]) -> tuple[str, ...] | None:
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


def int_list(value: str | None, option: str, minimum: int = 1) -> list[int] | None:
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


def cpu_list(value: str | None) -> list[int] | None:
    """--cpus: CPU numbers this process may run on (sched_getaffinity), else BadParameter listing them."""
    cpus = int_list(value, "--cpus", minimum=0)
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
