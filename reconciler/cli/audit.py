"""`audit`: every delivery of the workspace (managed or not) described and checked against the
policy. Read-only; exit 1 when anything breaks the policy."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.options import Connect, connection_options, project_config
from reconciler.desired import yamlwrite
from reconciler.errors import ExitCode
from reconciler.usecases.auditing import audit
from reconciler.views import audit_data, audit_markdown, audit_text
from reconciler.views.audit_model import Audit
from reconciler.views.console import printable, stderr, stdout


def _rendered(result: Audit, fmt: str) -> str:
    if fmt == "json":
        return audit_data.to_json(result)
    if fmt == "csv":
        return audit_data.to_csv(result)
    if fmt == "markdown":
        return audit_markdown.markdown(result)
    return audit_text.plain(result)


@click.command("audit")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "csv", "json"]),
    default="text",
    show_default=True,
    help="text: a table; markdown: for a job summary or an issue (addresses masked); csv: a row per "
    "delivery; json: {version, summary, deliveries, starts}.",
)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the audit to FILE, not stdout.")
@connection_options
def audit_command(fmt: str, out: Path | None, connect: Connect) -> None:
    """Audit every schedule and alert of the workspace, managed or not, against the policy.

    Per delivery: source, destination, recipients' domains, cadence, filters, YAML key, and the
    policy's violations. Writes nothing remotely. Exit 0 when every delivery keeps the policy, 1
    when any breaks it."""
    config = project_config()
    with connect() as client:
        result = audit(client, config)
    if out is not None:
        yamlwrite.atomic_write(out, printable(_rendered(result, fmt)))
        stderr().print(f"Wrote the audit to {out}.", markup=False)
    elif fmt == "text":
        stdout().print(audit_text.text(result))
    else:
        click.echo(printable(_rendered(result, fmt)), nl=False)
    if fmt != "text" or out is not None:
        stderr().print(audit_text.summary_line(result), markup=False)
    if not result.passes:
        sys.exit(ExitCode.ERROR)
