"""The `edgeres` click group: every command registered once, and the one place where an EdgeresError becomes an
`error:` line and a non-zero exit."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any

import click

from ..errors import EdgeresError, EdgeresWarning
from ..prune.torchrun_env import SEVERAL_PROCESSES, launched_by_torchrun
from .bench import bench
from .demo import demo
from .deploy import deploy
from .eval import eval_
from .export import export
from .inspect import inspect
from .pipeline import pipeline
from .prune import prune, prune_job
from .quantize import quantize
from .say import error, warn
from .targets import targets


class _Group(click.Group):
    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, standalone_mode: bool = True, **kw: Any
    ) -> Any:
        """Bad flags, like every other error, are one `error:` line (click's usage block is several)."""
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **kw)
        try:
            code = super().main(args, prog_name, standalone_mode=False, **kw)
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            where = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
            error(f"{exc.format_message().rstrip('.')}{where}")
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", EdgeresWarning)  # each one said, not only the first per place
                shown = warnings.showwarning
                warnings.showwarning = lambda message, category, *rest, **kw: (  # type: ignore[assignment]
                    warn(message) if issubclass(category, EdgeresWarning) else shown(message, category, *rest, **kw)
                )
                return super().invoke(ctx)
        except EdgeresError as exc:
            if ctx.meta.get("edgeres.debug"):
                raise
            error(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except OSError as exc:  # disk full, read-only, permissions where no library code expected them
            if ctx.meta.get("edgeres.debug"):
                raise
            from .._io import os_error_message

            error(os_error_message(exc))
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="edgeres")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Take trained ResNets to the edge: inspect, evaluate, export, quantize and benchmark them; run the demo."""
    ctx.meta["edgeres.debug"] = debug
    if launched_by_torchrun() and ctx.invoked_subcommand not in SEVERAL_PROCESSES:
        raise EdgeresError(
            f"`edgeres {ctx.invoked_subcommand}` runs in one process, and torchrun started several (each would do "
            "all the work and write the same files); run it without torchrun (`edgeres prune --finetune` and "
            "`edgeres quantize --qat` train on several processes)"
        )


for command in (inspect, eval_, export, quantize, prune, prune_job, bench, deploy, targets, pipeline, demo):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgeres")
