"""`hashbench plugins`: list every component and every broken plugin; `plugins show NAME`: one in detail."""
from __future__ import annotations

import inspect
import re
import typing
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from ..contract.binding import accepted_parameters, settable
from ..contract.names import CONTEXT_NAMES, CONTEXT_ORIGINS, KINDS, TABLE_OWNED
from ..errors import PluginError
from ..suggest import did_you_mean
from ._app import MARKUP, app, console

plugins_app = typer.Typer(help="List installed components (kind, name, distribution, version, summary) and"
                               " broken plugins; `plugins show NAME` describes one component.",
                          rich_markup_mode=MARKUP)
app.add_typer(plugins_app, name="plugins")

#: rST roles (:func:`x`, :class:`~a.b.C`), double and single backquotes.
_ROLE = re.compile(r":[\w-]+(?::[\w-]+)?:`(~?)([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_QUOTED = re.compile(r"`([^`]+)`")
PLAIN_HEADER = ("kind", "name", "distribution", "version", "summary")


def plain_text(text: str) -> str:
    """``text`` without rST markup: roles keep their target (``~a.b.C`` -> ``C``), backquotes go."""
    text = _ROLE.sub(lambda m: m.group(2).split(".")[-1] if m.group(1) else m.group(2), text)
    text = _LITERAL.sub(r"\1", text)
    return _QUOTED.sub(r"\1", text)


def first_paragraph(factory: Any) -> str:
    """The first paragraph of ``factory``'s docstring, on one line, without rST markup."""
    doc = inspect.getdoc(factory) or ""
    paragraph = doc.strip().split("\n\n")[0] if doc.strip() else ""
    return plain_text(" ".join(line.strip() for line in paragraph.splitlines()))


def type_name(annotation: Any) -> str:
    """A readable annotation: ``float``, ``Optional[str]``, ``Union[Sequence[int], str]``."""
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation)
    return re.sub(r"\b(typing|collections\.abc|builtins)\.", "", text).replace("NoneType", "None")


def toml_value(value: Any) -> str:
    """A default as it would be written in TOML (``true``, ``"cos"``, ``[128, 171]``; None: unset)."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def describe(component: Any) -> Table:
    """A component's table keys with their types and defaults (context values excluded)."""
    factory = component.factory
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # unresolvable forward references: show the annotations as written
        hints = {}
    accepted, var_kw = accepted_parameters(factory)
    owned = TABLE_OWNED.get(component.kind, ())
    table = Table(box=None, padding=(0, 2, 0, 0), pad_edge=False, show_edge=False)
    for column in ("  key", "type", "default"):
        table.add_column(column, no_wrap=True)
    for name, parameter in accepted.items():
        if not settable(name, owned):
            continue
        annotation = hints.get(name, parameter.annotation)
        default = "required" if parameter.default is inspect.Parameter.empty else toml_value(parameter.default)
        table.add_row(Text(f"  {name}"), Text(type_name(annotation)), Text(default))
    if var_kw:
        table.add_row(Text("  ..."), Text(""), Text("any other key (**kwargs)"))
    return table


def show_component(component: Any) -> None:
    """Print ``kind name (dist version)``, the docstring's first paragraph, the table keys (type, default)
    and the context values the factory receives."""
    print_line = console.print
    print_line(f"{component.kind} {component.name} ({component.dist} {component.version})", style="bold",
               highlight=False, markup=False, soft_wrap=True)
    summary = first_paragraph(component.factory)
    if summary:
        print_line(f"  {summary}", highlight=False, markup=False, soft_wrap=True)
    table = describe(component)
    if table.row_count:
        print_line(f"  keys of [{component.kind}]:", highlight=False, markup=False)
        print_line(table)
    else:
        print_line(f"  keys of [{component.kind}]: none", highlight=False, markup=False)
    accepted, _ = accepted_parameters(component.factory)
    owned = TABLE_OWNED.get(component.kind, ())
    context = [n for n in accepted if n in CONTEXT_NAMES and not settable(n, owned)]
    if context:
        print_line("  context (set by hashbench): " + ", ".join(f"{n} (from {CONTEXT_ORIGINS[n]})" for n in context),
                   highlight=False, markup=False, soft_wrap=True)
    print_line()


def plain_lines(rows: list[tuple[str, ...]]) -> list[str]:
    """A header and one line per component, columns aligned and two spaces apart, the summary last
    (never wrapped: for pipes and files, where a table's cells would wrap over several lines)."""
    rows = [PLAIN_HEADER, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(PLAIN_HEADER) - 1)]
    return ["  ".join([*(f"{c:<{w}}" for c, w in zip(r, widths)), r[-1]]).rstrip() for r in rows]


def _check_kind(kind: Optional[str]) -> None:
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}", param_hint="--kind")


@plugins_app.callback(invoke_without_command=True)
def plugins(ctx: typer.Context,
            kind: str = typer.Option(None, "--kind", "-k", help="Only this kind (backbone, head, ...)."),
            verbose: bool = typer.Option(False, "--verbose", "-v",
                                         help="Describe every listed component: its keys, types, defaults,"
                                              " context values and summary.")) -> None:
    """List installed components: kind, name, distribution, version, summary; and broken plugins."""
    if ctx.invoked_subcommand is not None:
        return
    _check_kind(kind)
    from .. import registry

    reg = registry()
    listed = [c for c in reg.all() if not kind or c.kind == kind]
    if verbose:
        for component in listed:
            show_component(component)
    else:
        rows = [(c.kind, c.name, c.dist, c.version, c.summary) for c in listed]
        if not kind:  # run loggers (the experiment's top-level loggers = [...]) are not a component kind
            rows += [("logger", name, dist, "", summary) for name, (summary, dist) in sorted(reg.loggers.items())]
        if console.is_terminal:
            table = Table(title="hashbench components")
            for column in PLAIN_HEADER:
                table.add_column(column)
            for row in rows:
                table.add_row(*row)
            console.print(table)
        else:  # a pipe or a file: one plain line per component, never wrapped
            for line in plain_lines(rows):
                typer.echo(line)
    for broken in reg.broken:
        console.print(f"[bold red]broken plugin[/] {broken.entry_point} ({broken.dist} {broken.version}):"
                      f" {broken.error}", highlight=False, soft_wrap=True)


@plugins_app.command("show")
def show(name: str = typer.Argument(..., help="The component's name (csq, r3d18, map@k, ...)."),
         kind: str = typer.Option(None, "--kind", "-k", help="Its kind, when several kinds use the name.")) -> None:
    """Describe one component: its table keys with types and defaults, the context values it receives, and
    the first paragraph of its docstring."""
    _check_kind(kind)
    from .. import registry

    reg = registry()
    found = [c for c in reg.all() if c.name == name and (not kind or c.kind == kind)]
    if not found:
        names = sorted({c.name for c in reg.all() if not kind or c.kind == kind})
        where = f" {kind}" if kind else ""
        raise PluginError(f"no{where} component named {name!r}{did_you_mean(name, names)}; see `hashbench plugins"
                          f"{' --kind ' + kind if kind else ''}`")
    for component in found:
        show_component(component)
