"""The contract's validators: one message per rule, a ValueError that the registry turns into a ConfigError."""
from __future__ import annotations

import pytest

from hashbench.contract import choice, integer, number, positive_int


@pytest.mark.parametrize("call, message", [
    (lambda: number("loss.m", 0.0, 0, low_open=True), r"^loss\.m: must be a number > 0, got 0\.0$"),
    (lambda: number("loss.lam", -1, 0), r"^loss\.lam: must be a number >= 0, got -1$"),
    (lambda: number("loss.lam", float("nan"), 0), r"^loss\.lam: must be a number >= 0, got nan$"),
    (lambda: number("x.p", 1.0, 0, 1, low_open=True, high_open=True), r"^x\.p: must be a number in \(0, 1\), got 1\.0$"),
    (lambda: number("x.d", 1, 0, 1, high_open=True), r"^x\.d: must be a number in \[0, 1\), got 1$"),
    (lambda: number("x.n", True), r"^x\.n: must be a number, got True$"),
    (lambda: number("x.n", float("inf"), note=" (finite)"), r"^x\.n: must be a number \(finite\), got inf$"),
    (lambda: positive_int("head.bits", 0), r"^head\.bits: must be a positive integer, got 0$"),
    (lambda: positive_int("head.bits", 2.0), r"^head\.bits: must be a positive integer, got 2\.0$"),
    (lambda: positive_int("head.bits", True), r"^head\.bits: must be a positive integer, got True$"),
    (lambda: integer("dataset.size", 8, 16, 64), r"^dataset\.size: must be an integer in \[16, 64\], got 8$"),
    (lambda: choice("loss.memory", "queue", ("bank", "batch")),
     r"^loss\.memory: unknown value 'queue'; use one of 'bank', 'batch'$"),
])
def test_a_bad_value_raises_one_line(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_good_value_comes_back_converted():
    assert number("loss.m", 2, 0, low_open=True) == 2.0 and isinstance(number("loss.m", 2, 0), float)
    assert positive_int("head.bits", 16) == 16
    assert integer("dataset.size", 16, 16, 64) == 16
    assert choice("loss.memory", "bank", ["bank", "batch"]) == "bank"
