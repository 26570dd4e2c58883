"""`edgeres targets` (list), `targets check` and `targets clean`: the boards benchmarks run on."""

from __future__ import annotations

import json

import click


@click.group(invoke_without_command=True)
@click.pass_context
def targets(ctx: click.Context) -> None:
    """List target profiles (shipped, and yours in ~/.config/edgeres/targets/); see `check` and `clean`."""
    if ctx.invoked_subcommand is not None:
        return
    from ..console import print_targets
    from ..remote import load_targets

    print_targets(list(load_targets().values()))


@targets.command(name="check")
@click.argument("name")
@click.option("--accept-new-host-key", is_flag=True, help="Trust the board's key on first contact.")
@click.option("--json", "as_json", is_flag=True)
def targets_check(name: str, accept_new_host_key: bool, as_json: bool) -> None:
    """Probe a target: reachable, Python, numpy, runtimes and their versions; sweeps stale run folders."""
    from ..console import print_target_check
    from ..remote.check import check_named_target

    check = check_named_target(name, accept_new_host_key=accept_new_host_key)
    if as_json:
        click.echo(json.dumps(check.info))
        return
    print_target_check(check)
    problem = check.problem()
    if problem is not None:
        raise problem


@targets.command(name="clean")
@click.argument("name")
@click.option("--accept-new-host-key", is_flag=True)
def targets_clean(name: str, accept_new_host_key: bool) -> None:
    """Remove run folders that interrupted runs left on a board (those whose runner is gone)."""
    from ..remote import check_target, resolve_target

    info = check_target(resolve_target(name), accept_new_host_key=accept_new_host_key)
    click.echo(f"removed {len(info.get('swept', []))} stale run folder(s)")
