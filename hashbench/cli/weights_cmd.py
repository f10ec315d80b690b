"""`hashbench weights list|check|fetch`: the known pretrained checkpoints of the installed backbones."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ._app import MARKUP, app, console

weights_app = typer.Typer(help="Known pretrained checkpoints of the installed backbones: list, check a file,"
                          " fetch one.", no_args_is_help=True, rich_markup_mode=MARKUP)
app.add_typer(weights_app, name="weights")


def _norm(mean: tuple, std: tuple) -> str:
    return f"mean {tuple(round(m, 2) for m in mean)} std {tuple(round(s, 2) for s in std)}"


@weights_app.command("list")
def list_(
    backbone: Optional[str] = typer.Option(None, "--backbone", "-b", help="Only this backbone's checkpoints."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every known checkpoint: backbone, name, classes, normalisation, input, and where hashbench finds its
    file ($HASHBENCH_WEIGHTS, then torch's hub cache)."""
    from .. import registry
    from ..contract.checkpoints import iter_checkpoints
    from ..errors import HashbenchError
    from ..weights import locate, search_paths

    reg = registry()
    components = [c for c in reg.all() if c.kind == "backbone" and (backbone is None or c.name == backbone)]
    if backbone is not None and not components:
        reg.get("backbone", backbone)  # raises with the available names
    rows = iter_checkpoints(components)
    if backbone is not None and not rows:
        raise HashbenchError(f"backbone {backbone!r} declares no known checkpoint (pretrained takes a path)")
    if json_out:
        typer.echo(json.dumps([{"backbone": c.name, "name": k.name, "file": k.file, "url": k.url, "sha256": k.sha256,
                                "classes": k.classes, "mean": k.mean, "std": k.std, "frames": k.frames,
                                "size": k.size, "source": k.source, "found": str(locate(k) or "")}
                               for c, k in rows], indent=2))
        return
    table = Table(title="known checkpoints (looked for in: " + ", ".join(str(p) for p in search_paths()) + ")")
    for column in ("backbone", "name", "classes", "normalisation (0-255)", "input", "file", "found"):
        table.add_column(column, overflow="fold")
    for component, checkpoint in rows:
        found = locate(checkpoint)
        shape = f"{checkpoint.frames or '?'}x{checkpoint.size or '?'}x{checkpoint.size or '?'}"
        table.add_row(component.name, checkpoint.name, str(checkpoint.classes or "-"),
                      _norm(checkpoint.mean, checkpoint.std), shape, checkpoint.file,
                      str(found) if found else "not found")
    console.print(table)


@weights_app.command("check")
def check(
    file: Path = typer.Argument(..., help="A weight file (.pth)."),
    backbone: Optional[str] = typer.Option(None, "--backbone", "-b", help="Load it into this backbone (default:"
                                           " every backbone that declares this file name or hash)."),
) -> None:
    """Verify a weight file: its sha256 against the known one, and a strict test load."""
    from .. import registry
    from ..contract.checkpoints import iter_checkpoints
    from ..weights import check_file, digest_verdict

    reg = registry()
    declared = [(c.name, k) for c, k in iter_checkpoints(c for c in reg.all() if c.kind == "backbone")]
    result = check_file(file, declared, lambda name, path: reg.build(
        "backbone", {"name": name, "pretrained": str(path)}, where="backbone"), backbone)
    console.print(f"{result.path}: sha256 {result.sha256}", highlight=False)
    for name, checkpoint in result.known:
        console.print(f"  known as {checkpoint.name} ({name}): {digest_verdict(checkpoint, result.sha256)}",
                      highlight=False, markup=False)
    for name in result.loaded:
        console.print(f"  ok: loads strictly into {name}", highlight=False, markup=False)
    for failure in result.failures:
        console.print(f"  FAILED: {failure}", highlight=False, markup=False)
    if not result.ok:
        raise typer.Exit(1)


@weights_app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="A known checkpoint name (see `hashbench weights list`)."),
    dest: Optional[Path] = typer.Option(None, "--dest", help="Folder to save it in (default: $HASHBENCH_WEIGHTS,"
                                        " else torch's hub cache)."),
    mirror: Optional[str] = typer.Option(None, "--mirror", help="Base URL of a copy of the files (<mirror>/<file>),"
                                         " instead of the publisher's URL."),
) -> None:
    """Download a known checkpoint with a progress bar into --dest (default: $HASHBENCH_WEIGHTS, else
    torch's hub cache); refuse (delete) a file whose sha256 differs from the published one or from the
    prefix in its published name (``r3d_18-b3b3357e.pth``), or that is a web page."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    from .. import registry
    from ..contract.checkpoints import iter_checkpoints
    from ..errors import HashbenchError
    from ..suggest import did_you_mean
    from ..weights import WEIGHTS_ENV, search_paths
    from ..weights import fetch as fetch_checkpoint

    known = {k.name: k for _, k in iter_checkpoints(c for c in registry().all() if c.kind == "backbone")}
    if name not in known:
        raise HashbenchError(f"unknown checkpoint {name!r}{did_you_mean(name, known)}; see `hashbench weights list`")
    with Progress(TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console) as bar:
        task = bar.add_task("fetch", total=None)
        path = fetch_checkpoint(known[name], dest, mirror=mirror,
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"saved {path}", highlight=False, markup=False, soft_wrap=True)
    if path.parent.resolve() not in {p.expanduser().resolve() for p in search_paths()}:
        console.print(f"runs find it by name with {WEIGHTS_ENV}={path.parent} (or give backbone.pretrained ="
                      f' "{path}")', highlight=False, markup=False, soft_wrap=True)
