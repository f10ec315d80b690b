"""The contract is stated once, in the docstring of hashbench.contract.hookspecs: the README, the docs, the
protocols, the rules and the conformance kit may name a component shape or the context values only as that
docstring does.

A shape is a parenthesised tuple of symbols that starts with the batch ``B``, or is a clip ``(3, T, H, W)``
or a multi-hot row ``(C,)``; each one found elsewhere must appear, character for character (spaces aside), in
the hookspecs docstring. A list of context names (five or more of them in a row) must be exactly
:data:`hashbench.contract.CONTEXT_NAMES`: a list that drops ``num_train`` drifted.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import hashbench.contract.hookspecs as hookspecs
from hashbench.contract import CONTEXT_NAMES

ROOT = Path(__file__).resolve().parents[3]
#: A component shape: a tuple of symbols (a concrete size such as ``(3, T, 112, 112)`` is an example, not
#: the contract) that starts with ``B``, is a clip ``(3, T, ...)`` or a row ``(C,)``.
SHAPE = re.compile(r"\((?=[^()\n]*,)(?:B|C|3(?=,\s*T\b))(?:,\s*(?:[A-Za-z_]\w*|3))*,?\s*\)")
#: A run of names separated by commas / "and" / "or", each maybe in backquotes, maybe followed by a
#: parenthesised remark: ``bits``, ``num_train`` (clips the run trains on), ``device`` and ``seed``.
NAME = r"`{0,2}[a-z_]+`{0,2}(?: \([^()\n]*\))?"
NAME_RUN = re.compile(rf"{NAME}(?:(?:,\s*(?:and |or )?|\s+and\s+|\s+or\s+){NAME})+")
MIN_NAMES = 5  # a dataset's attribute list names three context values; a context list names all eight


def statement_files() -> list[Path]:
    contract = ROOT / "hashbench" / "contract"
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), contract / "protocols.py",
            contract / "rules.py", contract / "checks.py", *sorted((contract / "conformance").glob("*.py"))]


def normalise(shape: str) -> str:
    return re.sub(r"\s+", "", shape)


def shapes_in(text: str) -> set[str]:
    return {normalise(m.group(0)) for m in SHAPE.finditer(text)}


def context_lists_in(text: str) -> list[tuple[str, ...]]:
    """The context names of every run that names at least MIN_NAMES of them, in order."""
    found = []
    for match in NAME_RUN.finditer(text):
        words = re.findall(r"[a-z_]+", re.sub(r"\([^()]*\)", "", match.group(0)))
        names = tuple(w for w in words if w in CONTEXT_NAMES)
        if len(set(names)) >= MIN_NAMES:
            found.append(names)
    return found


STATED = shapes_in(hookspecs.__doc__)


def test_the_statement_has_the_shapes_and_the_context_names():
    assert {"(B,3,T,H,W)", "(B,D)", "(B,bits)", "(B,)", "(B,C)", "(3,T,H,W)", "(C,)"} <= STATED
    assert context_lists_in(hookspecs.__doc__) == [CONTEXT_NAMES]


@pytest.mark.parametrize("path", statement_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_other_file_restates_a_shape_the_statement_does_not_have(path):
    if not path.exists():
        pytest.skip(f"{path.name} does not exist")
    text = path.read_text(encoding="utf-8")
    lines = {normalise(m.group(0)): text.count("\n", 0, m.start()) + 1 for m in SHAPE.finditer(text)}
    drifted = {shape: line for shape, line in lines.items() if shape not in STATED}
    assert not drifted, (f"{path.name} states shapes that hashbench/contract/hookspecs.py does not"
                         f" (link to it instead): {drifted}")


@pytest.mark.parametrize("path", statement_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_list_of_context_names_is_the_whole_list(path):
    if not path.exists():
        pytest.skip(f"{path.name} does not exist")
    wrong = [names for names in context_lists_in(path.read_text(encoding="utf-8"))
             if set(names) != set(CONTEXT_NAMES)]
    assert not wrong, f"{path.name} lists context names that differ from CONTEXT_NAMES {CONTEXT_NAMES}: {wrong}"


def test_the_checks_catch_a_drifted_shape_and_a_short_context_list():
    readme = "features ``(B, F)``; codes in [-1, 1] ``(B, bits)``. Context: ``bits``, ``feature_dim``," \
             " ``num_classes``, ``multi_label``, ``num_frames``, ``device``, ``seed``."
    assert shapes_in(readme) - STATED == {"(B,F)"}
    (short,) = context_lists_in(readme)
    assert set(CONTEXT_NAMES) - set(short) == {"num_train"}
    dataset_attributes = "``num_classes``, ``class_names``, ``multi_label``, ``num_frames``"
    assert context_lists_in(dataset_attributes) == []
