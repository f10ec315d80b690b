"""A fresh clone needs nothing beside it: the real test data ships in tests/data, intact, and no test, benchmark or
make target reaches outside the repository; ``make test`` is the fast tier and the slow tier has its own target."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from support import ROOT, TEST_DATA

#: Ways a file could reach for data beside the clone (the project's shared folder that CI, but no user, has).
OUTSIDE = re.compile(r"\.\./shared|parent\s*/\s*[\"']shared[\"']|parents\[\d\]\.parent")


def test_the_real_test_data_ships_intact_with_the_clone():
    """Every file listed in tests/data/SHA256SUMS is there with its published digest (clips, lists, codes)."""
    lines = (TEST_DATA / "SHA256SUMS").read_text().splitlines()
    assert len(lines) > 200  # videos, the official split lists, the CSQ codes
    bad = []
    for line in lines:
        digest, name = line.split(maxsplit=1)
        path = TEST_DATA / name.lstrip("*")
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            bad.append(name)
    assert bad == []
    assert len(list((TEST_DATA / "videos").iterdir())) == 9


def test_no_test_benchmark_or_build_file_reads_outside_the_clone():
    sources = [*ROOT.joinpath("tests").rglob("*.py"), *ROOT.joinpath("benchmarks").glob("*"), ROOT / "Makefile",
               ROOT / ".ci" / "run", ROOT / "pyproject.toml"]
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in sources if path.is_file() and path.suffix != ".png"
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if OUTSIDE.search(line) and " not in " not in line and path != Path(__file__)]
    assert offenders == []


def test_make_test_is_the_fast_tier_and_the_slow_tier_has_its_own_target():
    """The README's test command skips `slow` and `training` tests; `make test-slow` runs them; CI runs both."""
    makefile = (ROOT / "Makefile").read_text()
    targets = dict(re.findall(r"^([a-z-]+):[^\n]*\n\t([^\n]*)", makefile, re.M))
    assert targets["test"].endswith('pytest -q -m "not slow and not training"')
    assert targets["test-slow"].endswith('pytest -q -m "slow or training"')
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("make test\n") < ci.index("make test-slow")
    readme = (ROOT / "README.md").read_text()
    assert "make test-slow" in readme and 'pytest -m "not slow and\nnot training"' in readme
