"""`hashbench plugins`: list every component and every broken plugin."""
from __future__ import annotations

import typer
from rich.table import Table

from ._app import app, console


@app.command("plugins")
def plugins(kind: str = typer.Option(None, "--kind", "-k", help="Only this kind (backbone, head, ...).")) -> None:
    """List installed components: kind, name, distribution, version, summary; and broken plugins."""
    from .. import registry

    reg = registry()
    table = Table(title="hashbench components")
    for column in ("kind", "name", "distribution", "version", "summary"):
        table.add_column(column)
    for component in reg.all():
        if kind and component.kind != kind:
            continue
        table.add_row(component.kind, component.name, component.dist, component.version, component.summary)
    console.print(table)
    for broken in reg.broken:
        console.print(f"[bold red]broken plugin[/] {broken.entry_point} ({broken.dist} {broken.version}):"
                      f" {broken.error}", highlight=False, soft_wrap=True)
