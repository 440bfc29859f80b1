"""`show`: a saved plan rendered, offline."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.views import plan_json, plan_markdown, plan_text, savedplan
from reconciler.views.console import printable, stdout


@click.command("show")
@click.argument("saved", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--show-sensitive", is_flag=True, help="Do not mask email addresses in markdown.")
def show_command(saved: Path, fmt: str, show_sensitive: bool) -> None:
    """Render a saved plan (FILE.json from `plan --out`) without contacting the workspace."""
    loaded = savedplan.load(saved)
    the_plan, titles, exceptions, crowds = loaded.plan, dict(loaded.titles), loaded.exceptions, loaded.crowds
    if fmt == "text":
        stdout().print(plan_text.text(the_plan, titles, exceptions=exceptions, crowds=crowds))
    elif fmt == "json":
        click.echo(printable(plan_json.to_json(the_plan, titles, exceptions, crowds)), nl=False)
    else:
        shown = plan_markdown.markdown(
            the_plan, titles, show_sensitive=show_sensitive, limit=None, exceptions=exceptions, crowds=crowds
        )
        click.echo(printable(shown), nl=False)
