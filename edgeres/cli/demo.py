"""`edgeres demo`: the whole toolkit on generated data and a freshly trained model."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", default="edgeres-demo", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--train-steps",
    default=600,  # edgeres.demo.train.DEMO_STEPS, without importing torch here
    show_default=True,
    type=click.IntRange(min=1),
    help="SGD steps: a fixed amount of work, so the same command trains the same model on any machine.",
)
@click.option("--seed", default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an earlier demo's folder (never one it did not make).")
def demo(out: str, train_steps: int, seed: int, force: bool) -> None:
    """Run the whole toolkit on a generated data set and a freshly trained model (no downloads)."""
    from ..console import phase_progress, print_demo
    from ..demo import run_demo

    with phase_progress() as advance:
        result = run_demo(Path(out), train_steps=train_steps, seed=seed, force=force, progress=advance)
    print_demo(result)
