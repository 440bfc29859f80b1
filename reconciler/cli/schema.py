"""`schema`: the JSON Schema of the schedule files (or of the config file), for editors and hooks."""

from __future__ import annotations

import click

from reconciler.desired import schema
from reconciler.usecases import config as configuration


@click.command("schema")
@click.option("--config-file", is_flag=True, help=f"The schema of {configuration.CONFIG_FILE} instead.")
def schema_command(config_file: bool) -> None:
    """Print the JSON Schema (draft-07) of the schedule YAML, for editors and hooks."""
    click.echo(configuration.json_schema() if config_file else schema.dumps(), nl=False)
