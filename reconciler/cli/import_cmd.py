"""`import` (a keyword, hence the module's name): write YAML for remote schedules and alerts, ids included."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import Connect, connection_options, project_config
from reconciler.views.console import stderr, stdout


@click.command("import")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Directory for the YAML (default: schedules/).")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--unmanaged", is_flag=True, help="Only the schedules and alerts no YAML declares, into new files.")
@click.option(
    "--ids",
    "by_number",
    is_flag=True,
    help="Dashboards and filters by id (source_id, dynamic_filter_id), not by the names AML gives them.",
)
@connection_options
def import_command(
    ids: tuple[str, ...], out_dir: Path | None, force: bool, unmanaged: bool, by_number: bool, connect: Connect
) -> None:
    """Write YAML for every remote schedule and alert in scope (or just the schedule IDs given), ids
    included, so that plan shows no changes. Entries leave out nulls and defaults and carry their
    source's title. A schedule names its dashboard (`dashboard:`) and filters (`dynamic_filter:`) where
    the workspace has unames (AML dashboards); --ids keeps the numbers. An alert goes beside the schedules
    of its destination (`alerts:`).

    With --unmanaged, only the schedules and alerts no YAML declares, into new files (existing files
    are never touched), with keys unique across the existing ones: UI deliveries come under code bit
    by bit. With IDs too, each must be a schedule no YAML declares (an id already declared is an error).
    """
    # ruamel.yaml, which only writing needs, comes with these
    from reconciler.usecases import importing, policing
    from reconciler.views.imported_yaml import SCHEMA_FILE

    wanted = importing.parse_ids(ids)  # first: a typo is said before any request
    config = project_config()
    err = stderr()
    with connect() as client:
        found = importing.find(
            client, config, wanted, unmanaged=unmanaged, warn=lambda m: err.print(f"warning: {m}", markup=False)
        )
    written = importing.write_found(
        found, config, out_dir=out_dir, force=force, unmanaged=unmanaged, by_id=bool(wanted), ids=by_number
    )
    out = stdout()
    for path, counts in written.items():
        out.print(f"wrote {_counted(counts)} to {path}", markup=False)
    skipped = len(found.skipped) + len(found.skipped_alerts)
    note = f"; {skipped} skipped (see the warnings above)" if skipped else ""
    totals = {kind: sum(c.get(kind, 0) for c in written.values()) for kind in ("schedules", "alerts")}
    out.print(f"Imported {_counted(totals)}{note}.", markup=False)
    for problem in policing.imported_problems(config, list(written)):
        err.print(f"warning: {problem}: the next plan refuses it (fix it in the workspace, or except it)", markup=False)
    if written and importing.schema_missing():
        out.print(
            f"The files name ./{SCHEMA_FILE} for editors: make it with `holistics-schedules schema > {SCHEMA_FILE}`.",
            markup=False,
        )


def _counted(counts: dict[str, int]) -> str:
    """`3 schedule(s)`, `1 alert(s)`, `3 schedule(s) and 1 alert(s)`: alerts said only when there are any."""
    said = [f"{counts.get('schedules', 0)} schedule(s)"] if counts.get("schedules") or not counts.get("alerts") else []
    return " and ".join(said + ([f"{counts['alerts']} alert(s)"] if counts.get("alerts") else []))
