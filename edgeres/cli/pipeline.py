"""`edgeres pipeline`: the stages a config file enables, resumable, ending with report.html."""

from __future__ import annotations

import click

from ..errors import EdgeresError
from .say import warn


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--out", default="edgeres-run", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="Continue an interrupted run (fine-tuning from its last epoch).")
@click.option("--force", is_flag=True, help="Write into an --out folder that holds other files than a run's.")
@click.option("--example", is_flag=True, help="Print a commented starter config and exit.")
def pipeline(config: str | None, out: str, resume: bool, force: bool, example: bool) -> None:
    """Run the stages a config file enables; unchanged stages are skipped; ends with report.html."""
    from ..pipeline import example_config, run_pipeline

    if example:
        click.echo(example_config(), nl=False)
        return
    if config is None:
        raise click.UsageError("give a CONFIG.toml (edgeres pipeline --example > pipeline.toml)")
    from ..console import phase_progress, print_targets_bench

    with phase_progress() as advance:
        result = run_pipeline(config, out, resume=resume, force=force, progress=advance)
    print_targets_bench(result.bench)
    click.echo(f"stages run {len(result.ran)}, skipped (unchanged) {len(result.skipped)}")
    click.echo(f"manifest {result.manifest}")
    click.echo(f"report   {result.report}")
    for variant, chosen in result.deployed.items():
        click.echo(
            f"deployed {variant}: {chosen['file']} in {chosen['runtime']} ({chosen['p50_ms']:.3f} ms p50, top-1 "
            f"{chosen['accuracy']:.2%}; deploy/{variant}/deploy.json)"
        )
    for warning in result.warnings:
        warn(f"{warning}")
    failed = [f"{t['target']['name']}: {t['error']}" for t in result.bench["targets"] if t["error"]]
    if failed:  # the report shows what was measured; the exit status says not everything was
        raise EdgeresError(f"{len(failed)} target(s) failed (see the report): " + "; ".join(failed))
