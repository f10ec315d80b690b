"""The README is the newcomer's page and the docs hold the rest: short, every link resolves, every command exists.

The site build itself (``mkdocs build --strict``: links, anchors, API references) runs in ``.ci/run``
through ``make docs``; these checks are the fast part of it, plus what mkdocs cannot see (the README is
not a page of the site, and the commands it names must exist).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
MAX_README_LINES = 280

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
# `hashbench <command> [<subcommand>]`: a word is a (sub)command only when a space, a backtick or the
# line's end follows it (so `hashbench run experiments/demo.toml` names `run`, not `run experiments`).
COMMAND = re.compile(r"(?:^|[\s/])hashbench ([a-z][a-z-]*)(?: ([a-z][a-z-]*)(?=\s|$))?", re.M)
MAKE_TARGET = re.compile(r"\bmake ([a-z][a-z-]*)")


def _headings(page: Path) -> Set[str]:
    """Anchors of a page's headings, as GitHub and as Python-Markdown (MkDocs) slug them."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    anchors: Set[str] = set()
    for title in re.findall(r"^#{1,6} (.+?)\s*$", text, re.M):
        plain = title.replace("`", "").strip().lower()
        github = re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")
        anchors |= {github, re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", plain)).strip("-")}
    return anchors


def _relative_links(page: Path) -> Iterator[Tuple[str, Path, str]]:
    """(link as written, target file, anchor) for every relative link outside code blocks."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    for link in LINK.findall(text):
        if re.match(r"[a-z]+:", link) or link.startswith("#"):
            continue
        path, _, anchor = link.partition("#")
        yield link, (page.parent / path).resolve(), anchor


def _code_text(page: Path) -> str:
    """The page's code, comments left out: fenced blocks and inline code spans (where commands are written)."""
    text = page.read_text(encoding="utf-8")
    blocks = [re.sub(r"(^|\s)#.*$", "", block, flags=re.M) for block in FENCE.findall(text)]
    return "\n".join(blocks + INLINE_CODE.findall(FENCE.sub("", text)))


def test_readme_is_a_short_page() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail to docs/ (limit {MAX_README_LINES})"


@pytest.mark.parametrize("page", [README] + PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken: List[str] = []
    for link, target, anchor in _relative_links(page):
        if not target.exists():
            broken.append(f"{link}: no file {target.relative_to(ROOT) if ROOT in target.parents else target}")
        elif anchor and target.suffix == ".md" and target.name != "api.md" and anchor not in _headings(target):
            broken.append(f"{link}: no heading '#{anchor}' in {target.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_readme_links_every_docs_page_and_needs_nothing_outside_the_clone() -> None:
    linked = {target for _, target, _ in _relative_links(README)}
    unlinked = [p.name for p in PAGES if p.resolve() not in linked and p.name != "index.md"]  # index: the site's home
    assert not unlinked, f"docs pages the README does not link: {unlinked}"
    for page in [README] + PAGES:
        assert "../shared" not in page.read_text(encoding="utf-8"), f"{page.name} points outside the clone"


def test_every_docs_page_is_in_the_site_navigation() -> None:
    nav = set(re.findall(r":\s*([\w./-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), re.M))
    assert {p.name for p in PAGES} == nav


def test_make_targets_named_in_the_readme_exist_and_ci_runs_the_test_command() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(MAKE_TARGET.findall(_code_text(README)))
    assert {"demo", "test"} <= named and named <= targets, f"README names {sorted(named - targets)}, not in Makefile"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M), ".ci/run must run the README's test command, make test"


def _readme_commands() -> Set[Tuple[str, ...]]:
    found = {tuple(w for w in m if w) for m in COMMAND.findall(_code_text(README))}
    return {c for c in found if c}


def test_every_hashbench_command_in_the_readme_exists() -> None:
    """One interpreter runs the real entry point with ``<command> --help`` for each distinct command."""
    commands = sorted(_readme_commands())
    assert ("run",) in commands and ("leaderboard",) in commands  # the extraction itself works
    script = (
        "import json, sys\n"
        "from hashbench.cli import main\n"
        "codes = {}\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        main(argv + ['--help'])\n"
        "        codes[' '.join(argv)] = 0\n"
        "    except SystemExit as exc:\n"
        "        codes[' '.join(argv)] = exc.code or 0\n"
        "sys.stdout = sys.__stdout__\n"
        "print('CODES=' + json.dumps(codes))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, json.dumps([list(c) for c in commands])],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    codes: Dict[str, int] = json.loads(proc.stdout.rsplit("CODES=", 1)[1])
    missing = {cmd: code for cmd, code in codes.items() if code != 0}
    assert not missing, f"README names hashbench commands that do not exist: {missing}"


REPO_PATH = re.compile(r"(?:hashbench|tests|plugins|experiments|benchmarks|tools|docs)/[\w./-]*")
CORE_NAME = re.compile(r"(?:cli|config|codes|contract|data|eval|results|run|train)(?:\.\w+)+")


@pytest.mark.parametrize("page", [README] + PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_named_in_code_exist(page: Path) -> None:
    """A path such as `tests/core/test_architecture.py` or `experiments/zoo/zoo.toml` names a real file."""
    spans = INLINE_CODE.findall(page.read_text(encoding="utf-8"))
    missing = sorted({s for s in spans if REPO_PATH.fullmatch(s) and not (ROOT / s).exists()})
    assert not missing, f"{page.name} names paths that do not exist: {missing}"


def _resolves(dotted: str) -> bool:
    """`run.runner.run_experiment`: the longest module prefix under hashbench/ exists, and the rest are names in it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = ROOT / "hashbench" / Path(*parts[:cut])
        module = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        if module.exists():
            text = module.read_text(encoding="utf-8")
            return all(re.search(rf"\b{re.escape(name)}\b", text) for name in parts[cut:])
    return False


def test_architecture_page_names_real_modules_and_functions() -> None:
    """The path of one run through the core names modules and functions that exist (static, no imports)."""
    spans = INLINE_CODE.findall((DOCS / "architecture.md").read_text(encoding="utf-8"))
    dotted = sorted({s for s in spans if CORE_NAME.fullmatch(s)})
    assert len(dotted) >= 10, dotted  # the extraction itself works
    stale = [name for name in dotted if not _resolves(name)]
    assert not stale, f"docs/architecture.md names what the core no longer has: {stale}"


def test_the_plugin_page_states_the_facts_a_newcomer_relies_on():
    """What the plugin page says about backbones, losses and error locations is what the code does."""
    page = (DOCS / "plugins.md").read_text(encoding="utf-8")
    assert re.search(r"must\*?\*? declare `input_mean` and `input_std`", page)  # validate refuses a backbone without
    assert "class PairwiseL2(HashLoss)" in page and "def compute_loss(self, batch: LossBatch)" in page
    assert "(codes, labels) -> scalar" not in page
    from hashbench.contract import HashLoss

    assert callable(getattr(HashLoss, "compute_loss"))


def test_the_quick_start_throwaway_run_records_nothing():
    """The quick start's short run (two epochs, 16 bits) is a try-out: it must not add a row to the table."""
    lines = [line for line in README.read_text(encoding="utf-8").splitlines() if "--set train.epochs=2" in line]
    assert lines and all("--no-record" in line for line in lines)
