"""The CLI's one-line messages: `error:` and `warning:` lines whose text cannot break out of its line (a file
named `evil\nerror: fake.jpg` must not forge a second message, nor a terminal escape recolour one)."""

from __future__ import annotations

import click

from ..oneline import one_line


def warn(message: object) -> None:
    """One `warning:` line on stderr."""
    click.echo(f"warning: {one_line(message)}", err=True)


def error(message: object) -> None:
    """One `error:` line on stderr."""
    click.echo(f"error: {one_line(message)}", err=True)
