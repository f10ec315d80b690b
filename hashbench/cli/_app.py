"""The typer application objects; command modules attach themselves to these."""
from __future__ import annotations

import typer
from rich.console import Console

#: Help texts quote TOML tables ([sweep], [train]) and defaults in brackets: no rich markup, so no
#: word is ever eaten; click's plain help formatting.
MARKUP = None

app = typer.Typer(
    name="hashbench",
    help="Experiment registry for learned video hashing: run, score and compare methods.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=MARKUP,
)
data_app = typer.Typer(help="Prepare and check real video datasets (UCF101, HMDB-51, JHMDB).",
                       no_args_is_help=True, rich_markup_mode=MARKUP)
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)
