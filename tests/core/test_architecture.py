"""The architecture, checked on the source: the import graph of hashbench and of the reference plugins.

Every module of ``hashbench`` and ``plugins/hashbench_ref`` is parsed (nothing is imported) and its
imports are resolved to modules. The rules:

(a) no import cycle between hashbench modules, counting module-level imports (``if TYPE_CHECKING``
    blocks excluded) and the package ``__init__`` each import runs; imports inside functions are
    lazy and left out of the cycle check (they must still follow (b) and (e));
(b) no private name crosses modules: nothing imports ``_name`` from another module or reads
    ``module._name`` of an imported hashbench module; a private module (``_kernels``) is imported
    only by modules of its own package;
(c) the reference plugins import from hashbench only public names (listed in ``__all__``) of the
    declared public modules — never ``hashbench.run``, ``hashbench.cli`` or any other internal;
(d) the CLI parses and prints: no module of ``hashbench.cli`` imports process, thread or signal
    machinery (``subprocess``, ``multiprocessing``, ``concurrent``, ``threading``, ``signal``) or the
    numeric stack (``torch``, ``numpy``, ``pandas``, ``faiss``), at module or function level — sweeps
    run in ``hashbench.run.sweeps``, computations in the library;
(e) packages are layered: a module imports modules of its own package or of a lower layer (see
    ``LAYERS``), never of a higher one; only a function may import the top-level ``hashbench``
    package (its process-wide ``registry()``);
(f) rooms stay readable: no module of ``hashbench`` over ``MAX_MODULE_LINES`` lines, no function (or
    method) over ``MAX_FUNCTION_LINES`` lines, from its ``def`` to its last line.
"""
from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT

CORE = ROOT / "hashbench"
PLUGINS = ROOT / "plugins"
REFERENCE = PLUGINS / "hashbench_ref"

#: What dataset, metric and other plugins may import from hashbench.
PUBLIC_MODULES = ("hashbench", "hashbench.contract", "hashbench.errors", "hashbench.data", "hashbench.eval.metrics",
                  "hashbench.weights")
#: The layer of each top-level part of hashbench; a module may import its own package or lower layers.
LAYERS = {
    "errors": 0, "suggest": 0, "atomic": 0,
    "device": 1, "failures": 1, "weights": 1,
    "contract": 2,
    "config": 3, "codes": 3, "data": 3,
    "train": 4, "results": 4,
    "eval": 5,
    "run": 6,
    "cli": 7, "__main__": 8,
}
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
CLI_FORBIDDEN = ("subprocess", "multiprocessing", "concurrent", "threading", "signal", "torch", "numpy", "pandas",
                 "faiss")


@dataclass(frozen=True)
class Import:
    """One imported module (``target``) and, for ``from target import name``, the name."""

    importer: str
    target: str
    name: str | None
    line: int
    lazy: bool  # inside a function
    typing_only: bool  # inside ``if TYPE_CHECKING:``


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_under(package: Path, base: Path) -> dict[str, Path]:
    return {module_name(p, base): p for p in sorted(package.rglob("*.py"))}


CORE_MODULES = modules_under(CORE, ROOT)
REFERENCE_MODULES = modules_under(REFERENCE, PLUGINS)


def is_package(name: str, known: dict[str, Path]) -> bool:
    return name in known and known[name].name == "__init__.py"


def resolve(importer: str, level: int, module: str | None, known: dict[str, Path]) -> str:
    """The absolute module a (relative) import statement names."""
    if not level:
        return module or ""
    base = importer.split(".")
    if not is_package(importer, known):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            child_typing = typing_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(name, alias.name, None, child.lineno, lazy, typing_only))
            elif isinstance(child, ast.ImportFrom):
                target = resolve(name, child.level, child.module, known)
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    if sub in known:  # `from package import submodule`
                        found.append(Import(name, sub, None, child.lineno, lazy, typing_only))
                    else:
                        found.append(Import(name, target, alias.name, child.lineno, lazy, typing_only))
            visit(child, child_lazy, child_typing)

    visit(tree, False, False)
    return found


CORE_IMPORTS = {name: imports_of(name, path, CORE_MODULES) for name, path in CORE_MODULES.items()}
REFERENCE_IMPORTS = {name: imports_of(name, path, {**REFERENCE_MODULES, **CORE_MODULES})
                     for name, path in REFERENCE_MODULES.items()}


def loaded_by(target: str, importer: str) -> list[str]:
    """The hashbench modules an import of ``target`` runs: the packages above it that ``importer`` is not
    inside (their ``__init__``), then ``target`` itself. The top-level package is always loaded already."""
    parts = target.split(".")
    out = []
    for i in range(2, len(parts) + 1):
        module = ".".join(parts[:i])
        inside = importer == module or importer.startswith(module + ".")
        if module in CORE_MODULES and not (inside and module != target):
            out.append(module)
    return out


def test_the_source_tree_is_what_the_rules_are_about():
    assert {"hashbench", "hashbench.contract", "hashbench.config", "hashbench.run.runner", "hashbench.cli"} <= set(CORE_MODULES)
    assert "hashbench_ref.plugin" in REFERENCE_MODULES
    tops = {name.split(".")[1] for name in CORE_MODULES if name.count(".") >= 1}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS: {sorted(tops - set(LAYERS))}"


def test_no_import_cycle_between_hashbench_modules():
    graph: dict[str, set[str]] = defaultdict(set)
    for name, imports in CORE_IMPORTS.items():
        for imp in imports:
            if imp.lazy or imp.typing_only or not imp.target.startswith("hashbench."):
                continue
            for module in loaded_by(imp.target, name):
                if module != name:
                    graph[name].add(module)
    cycles = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(CORE_MODULES):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@pytest.mark.parametrize("modules, imports", [(CORE_MODULES, CORE_IMPORTS), (REFERENCE_MODULES, REFERENCE_IMPORTS)],
                         ids=["hashbench", "hashbench_ref"])
def test_no_private_name_crosses_modules(modules, imports):
    bad = []
    for name, found in imports.items():
        for imp in found:
            if not imp.target.startswith(("hashbench.", "hashbench_ref.")) and imp.target not in ("hashbench",):
                continue
            where = f"{name}:{imp.line}"
            if imp.name is not None and _private(imp.name) and imp.target != name:
                bad.append(f"{where} imports {imp.name} from {imp.target}")
            private_module = next((p for p in imp.target.split(".") if _private(p)), None)
            if private_module:
                package = imp.target[: imp.target.index("." + private_module)]
                if not (name == package or name.startswith(package + ".")):
                    bad.append(f"{where} imports the private module {imp.target} from outside {package}")
        # module._name on an imported hashbench module
        tree = ast.parse(modules[name].read_text())
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("hashbench") and alias.asname:
                        aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                target = resolve(name, node.level, node.module, {**CORE_MODULES, **REFERENCE_MODULES})
                for alias in node.names:
                    if f"{target}.{alias.name}" in CORE_MODULES or f"{target}.{alias.name}" in REFERENCE_MODULES:
                        aliases[alias.asname or alias.name] = f"{target}.{alias.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and _private(node.attr) and aliases[node.value.id] != name:
                bad.append(f"{name}:{node.lineno} reads {aliases[node.value.id]}.{node.attr}")
    assert not bad, "\n".join(bad)


def test_reference_plugins_import_only_declared_public_names():
    public = {module: set(importlib.import_module(module).__all__) for module in PUBLIC_MODULES}
    bad = []
    for name, found in REFERENCE_IMPORTS.items():
        for imp in found:
            if imp.target != "hashbench" and not imp.target.startswith("hashbench."):
                continue
            where = f"{name}:{imp.line}"
            if imp.target not in public:
                bad.append(f"{where} imports {imp.target}, which is not a public module ({', '.join(PUBLIC_MODULES)})")
            elif imp.name is not None and imp.name not in public[imp.target]:
                bad.append(f"{where} imports {imp.name} from {imp.target}, not in its __all__")
    assert not bad, "\n".join(bad)
    assert not any(imp.target.startswith(("hashbench.run", "hashbench.cli"))
                   for found in REFERENCE_IMPORTS.values() for imp in found)


def test_every_public_name_of_the_public_modules_exists():
    for module in PUBLIC_MODULES:
        mod = importlib.import_module(module)
        missing = [n for n in mod.__all__ if not hasattr(mod, n)]
        assert not missing, f"{module}.__all__ lists names it does not have: {missing}"


def test_the_cli_parses_and_prints_only():
    bad = [f"{name}:{imp.line} imports {imp.target}"
           for name, found in CORE_IMPORTS.items() if name == "hashbench.cli" or name.startswith("hashbench.cli.")
           for imp in found if imp.target.split(".")[0] in CLI_FORBIDDEN]
    assert not bad, "the CLI only parses and prints; move this into the library:\n" + "\n".join(bad)
    assert not any("Popen" in path.read_text() for name, path in CORE_MODULES.items() if name.startswith("hashbench.cli"))


def _top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_packages_import_only_lower_layers():
    bad = []
    for name, found in CORE_IMPORTS.items():
        if name == "hashbench":
            continue
        own = _top(name)
        for imp in found:
            if imp.target == "hashbench":
                if not imp.lazy:
                    bad.append(f"{name}:{imp.line} imports the top-level package at module level")
                continue
            if not imp.target.startswith("hashbench.") or imp.typing_only:
                continue
            other = _top(imp.target)
            if other != own and LAYERS[other] >= LAYERS[own]:
                bad.append(f"{name}:{imp.line} ({own}, layer {LAYERS[own]}) imports {imp.target}"
                           f" ({other}, layer {LAYERS[other]})")
    assert not bad, "\n".join(bad)


def long_functions(path: Path, limit: int, base: Path = ROOT) -> list[str]:
    """``file:function:lines`` (file relative to ``base``) of every function or method in ``path`` longer than
    ``limit`` lines."""
    tree = ast.parse(path.read_text(), str(path))
    return [f"{path.relative_to(base)}:{node.name}:{node.end_lineno - node.lineno + 1}"  # type: ignore[operator]
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]  # type: ignore[operator]


def test_no_core_module_is_over_the_line_limit():
    long = [f"{path.relative_to(ROOT)}: {n} lines" for path in CORE_MODULES.values()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not long, f"split these modules by concept (at most {MAX_MODULE_LINES} lines):\n" + "\n".join(long)


def test_no_core_function_is_over_the_line_limit():
    long = [entry for path in CORE_MODULES.values() for entry in long_functions(path, MAX_FUNCTION_LINES)]
    assert not long, f"split these functions (at most {MAX_FUNCTION_LINES} lines):\n" + "\n".join(long)


def test_the_rules_catch_what_they_are_about(tmp_path):
    """The checker itself: a cycle, a private import, a CLI subprocess, an upward import are all seen."""
    pkg = tmp_path / "hashbench"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("from .run import x\n")
    (pkg / "run.py").write_text("from .errors import _hidden\n")
    (pkg / "cli" / "__init__.py").write_text("def f():\n    import subprocess\n")
    known = modules_under(pkg, tmp_path)
    found = {n: imports_of(n, p, known) for n, p in known.items()}
    assert [(i.target, i.name) for i in found["hashbench.errors"]] == [("hashbench.run", "x")]
    assert [(i.target, i.name) for i in found["hashbench.run"]] == [("hashbench.errors", "_hidden")]
    (cli_import,) = found["hashbench.cli"]
    assert cli_import.target == "subprocess" and cli_import.lazy
    assert LAYERS["errors"] < LAYERS["run"]  # errors -> run is upward
    (pkg / "long.py").write_text("def f():\n" + "    x = 1\n" * 80 + "\n\ndef g():\n    pass\n")
    found_long = [entry.rsplit(":", 2)[1:] for entry in long_functions(pkg / "long.py", MAX_FUNCTION_LINES, tmp_path)]
    assert found_long == [["f", "81"]]
