"""`hashbench check-plugins`: the conformance kit (:mod:`hashbench.contract.conformance`) on installed components.

Exit codes: 0 every check passed, 1 a check failed (or a selected plugin failed to load), 2 a usage
error (an unknown kind, nothing matches the selection).
"""
from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from ..contract.names import KINDS
from ..contract.registry import Registry
from ..errors import PluginError
from ..suggest import did_you_mean
from ._app import app, console


@app.command("check-plugins")
def check_plugins(
    dist: Optional[str] = typer.Option(None, "--dist", "-d", help="Only components of this distribution"
                                                                  " (the pip name, e.g. hashbench-c3d)."),
    kind: Optional[str] = typer.Option(None, "--kind", "-k", help="Only this kind (backbone, head, ...)."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Only components of this name."),
    json_out: bool = typer.Option(False, "--json", help="Print every check as JSON instead of a table."),
) -> None:
    """Check installed components against the plugin contract (the conformance kit): backbones, heads and
    losses on tiny batches, datasets on their example trees, metrics on known answers. Exit 0 when every
    check passes, 1 when one fails."""
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}", param_hint="--kind")
    from .. import registry
    from ..contract.conformance import check_registered, same_distribution, select_components

    reg = registry()
    broken = [b for b in reg.broken if dist is None or same_distribution(b.dist, dist)]
    if not select_components(reg, dist, kind, name) and not (broken and kind is None and name is None):
        raise PluginError(_nothing_matches(reg, dist, kind, name))
    results = check_registered(reg, dist=dist, kind=kind, name=name)
    failed = [r for r in results if not r.passed]
    if json_out:
        typer.echo(json.dumps({"passed": not failed, "checks": len(results), "failed": len(failed),
                               "results": [r.to_dict() for r in results]}, indent=2))
    else:
        _print_table(results)
    if failed:
        raise typer.Exit(code=1)


def _nothing_matches(reg: Registry, dist: Optional[str], kind: Optional[str], name: Optional[str]) -> str:
    from ..contract.conformance import same_distribution

    components = reg.all()
    dists = sorted({c.dist for c in components})
    asked = ", ".join(f"{flag} {value}" for flag, value in (("--dist", dist), ("--kind", kind), ("--name", name))
                      if value is not None)
    hint = ""
    if dist is not None and not any(same_distribution(c.dist, dist) for c in components):
        hint = f"{did_you_mean(dist, dists)}; installed distributions with components: {', '.join(dists)}"
    elif name is not None:
        hint = did_you_mean(name, sorted({c.name for c in components if kind is None or c.kind == kind}))
    return f"no component matches {asked}{hint} (see `hashbench plugins`)"


def _print_table(results: list) -> None:
    rows: dict[str, dict] = {}
    for result in results:
        row = rows.setdefault(result.component, {"dist": result.dist, "passed": 0, "failed": [], "skipped": 0})
        if not result.passed:
            row["failed"].append(result)
        else:
            row["passed"] += 1
            row["skipped"] += int(result.skipped)
    table = Table(title="hashbench conformance checks")
    for column in ("component", "distribution", "passed", "failed", "failing checks"):
        table.add_column(column)
    for component, row in rows.items():
        failing = ", ".join(r.check for r in row["failed"])
        passed = f"{row['passed']}" + (f" ({row['skipped']} n/a)" if row["skipped"] else "")
        table.add_row(Text(component), Text(row["dist"]), passed, Text(str(len(row["failed"])),
                      style="bold red" if row["failed"] else ""), Text(failing))
    console.print(table)
    failed = [r for row in rows.values() for r in row["failed"]]
    for result in failed:
        console.print(f"FAILED {result.component} {result.check}: {result.message}", style="red", highlight=False,
                      markup=False, soft_wrap=True)
    bad = sum(1 for row in rows.values() if row["failed"])
    skipped = sum(row["skipped"] for row in rows.values())
    not_applicable = f" ({skipped} n/a: not applicable to the component)" if skipped else ""
    console.print(f"{_count(len(rows), 'component')}, {_count(len(results), 'check')}: {len(results) - len(failed)}"
                  f" passed{not_applicable}, {len(failed)} failed"
                  + (f" ({_count(bad, 'component')} fail{'s' if bad == 1 else ''})" if bad else ""), highlight=False)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
