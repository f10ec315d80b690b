"""The typer application objects; command modules attach themselves to these."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import typer
from rich.console import Console
from typer.core import TyperGroup

#: Help texts quote TOML tables ([sweep], [train]) and defaults in brackets: no rich markup, so no
#: word is ever eaten; click's plain help formatting.
MARKUP = None


def _nested(group: Any, ctx: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The full names (``("data", "prepare")``) of every command inside ``group``'s subgroups."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if hasattr(command, "list_commands"):  # a group (typer vendors its own click: no isinstance)
            for sub in command.list_commands(ctx):
                yield (*prefix, name, sub)
            yield from _nested(command, ctx, (*prefix, name))


class SuggestingGroup(TyperGroup):
    """The top-level group: an unknown command that names a subcommand of a group (``hashbench prepare``)
    suggests the full command (``hashbench data prepare``); other unknown names get typer's suggestion."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and self.get_command(ctx, args[0]) is None:
            full = sorted({" ".join(p) for p in _nested(self, ctx) if p[-1] == args[0]})
            if full:
                ctx.fail(f"No such command {args[0]!r}. Did you mean "
                         + " or ".join(f"`hashbench {f}`" for f in full) + "?")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=SuggestingGroup,
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
features_app = typer.Typer(help="Frame features of clip datasets, for the frame_features dataset.",
                           no_args_is_help=True, rich_markup_mode=MARKUP)
app.add_typer(features_app, name="features")

console = Console()
err_console = Console(stderr=True)


def say(text: str) -> None:
    """Print ``text`` to stdout as it is: no rich markup, no highlighting, no wrapping."""
    console.print(text, highlight=False, soft_wrap=True, markup=False)


def parse_sets(options: Sequence[str]) -> dict[str, Any]:
    """``--set key=value`` options (TOML value syntax) -> ``{"key": value}`` (nested keys joined by dots)."""
    from ..config import parse_override

    parsed: dict[str, Any] = {}
    for text in options:
        keys, value = parse_override(text)
        parsed[".".join(keys)] = value
    return parsed


@contextmanager
def resumable(where: Path) -> Iterator[None]:
    """Around a resumable step writing to ``where``: Ctrl-C prints one line saying to run the same
    command again to continue, and exits 130 (no traceback)."""
    try:
        yield
    except KeyboardInterrupt:
        say(f"interrupted; run the same command again to continue ({where})")
        raise typer.Exit(130) from None
