"""`demo`: the command; what it runs is `walkthrough` (a module of its own, so that no attribute of
the package named like a command shadows it)."""

from __future__ import annotations

import sys

import click

from reconciler.views.console import stdout


@click.command("demo")
@click.pass_context
def demo_command(ctx: click.Context) -> None:
    """Try it with no account: a seeded sandbox, then validate, plan, apply, plan on a copy of schedules/."""
    from reconciler.cli import walkthrough  # rich and the sandbox: only the demo needs them

    group = ctx.find_root().command  # the walkthrough runs the very commands this one belongs to
    sys.exit(walkthrough.run(stdout(), group))
