"""`hashbench check-plugins` and `hashbench plugins show`, through the real CLI on really pip-installed packages.

tests/packages/hashbench_example_loss (a separate, third-party-style package adding one loss) is
pip-installed into a temporary folder and put on PYTHONPATH, as a plugin author's package would be
installed; the conformance kit passes on it. A deliberately broken package (a loss that returns a
vector, one whose memory is not in its state_dict, one whose module is not written) fails, naming the
failing checks. The test venv is never changed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import ROOT, pip_install

EXAMPLE_SOURCE = ROOT / "tests" / "packages" / "hashbench_example_loss"
EXAMPLE_DIST = "hashbench-example-loss"

BROKEN_MODULE = '''
"""Losses that break the contract, one way each."""
import torch
from torch import nn

from hashbench import hookimpl
from hashbench.contract import HashLoss


class VectorLoss(nn.Module):
    def forward(self, codes, labels):
        return (codes ** 2).mean(dim=1)  # one value per clip: not reduced


class Forgetful(HashLoss):
    needs_indices = True

    def __init__(self, num_classes, multi_label, num_train, bits):
        super().__init__(num_classes, multi_label)
        self.bank = torch.zeros(num_train, bits)  # a plain attribute: not saved, lost by --resume

    def compute_loss(self, batch):
        self.bank[batch.indices] = batch.codes.detach()
        return ((batch.codes @ self.bank.T / batch.bits) ** 2).mean()


def vector_loss():
    """Returns a vector."""
    return VectorLoss()


def forgetful(num_classes: int = 2, multi_label: bool = False, num_train: int = 0, bits: int = 8):
    """Keeps its memory bank outside the state_dict."""
    return Forgetful(num_classes, multi_label, num_train, bits)


def not_written():
    """Its module does not exist yet."""
    from broken_losses_impl import Loss
    return Loss()


@hookimpl
def hashbench_losses():
    return {"vector_loss": vector_loss, "forgetful": forgetful, "not_written": not_written}
'''




def broken_package(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "hashbench-broken-losses"
        version = "0.3.0"

        [project.entry-points.hashbench]
        broken_losses = "broken_losses"

        [tool.setuptools]
        py-modules = ["broken_losses"]
        """))
    (root / "broken_losses.py").write_text(BROKEN_MODULE)
    return root


def cli(*args: str, paths=(), timeout=300) -> subprocess.CompletedProcess:
    """``python -m hashbench ARGS`` in a real subprocess with ``paths`` on PYTHONPATH."""
    environment = {k: v for k, v in os.environ.items() if k not in ("HASHBENCH_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH")}
    environment.update({"COLUMNS": "250", "NO_COLOR": "1", "OMP_NUM_THREADS": "2",
                        "PYTHONPATH": os.pathsep.join(map(str, paths))})
    return subprocess.run([sys.executable, "-m", "hashbench", *args], capture_output=True, text=True,
                          env=environment, cwd=ROOT, timeout=timeout)


def rows(output: str) -> dict:
    """component -> [distribution, passed, failed, failing checks...] from the check-plugins table."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|┃]", line)]
        cells = [c for c in cells if c]
        if cells and re.fullmatch(r"(backbone|head|loss|dataset|metric):\S+", cells[0]):
            found[cells[0]] = cells[1:]
    return found


@pytest.fixture(scope="module")
def example_target(tmp_path_factory) -> Path:
    return pip_install(EXAMPLE_SOURCE, tmp_path_factory.mktemp("example") / "site")


@pytest.fixture(scope="module")
def broken_target(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("broken")
    return pip_install(broken_package(base / "hashbench_broken_losses"), base / "site")


def test_the_example_package_is_really_installed_and_passes_the_kit(example_target, broken_target):
    assert (example_target / "hashbench_example_loss" / "loss.py").is_file()
    assert any(p.name.startswith("hashbench_example_loss-0.1.0.dist-info") for p in example_target.iterdir())
    # the broken package is installed beside it: --dist checks only the example's components
    proc = cli("check-plugins", "--dist", EXAMPLE_DIST, paths=[example_target, broken_target])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert rows(out) == {"loss:pairwise_similarity": [EXAMPLE_DIST, "12 (2 n/a)", "0"]}
    assert "1 component, 12 checks: 12 passed (2 n/a: not applicable to the component), 0 failed" in out
    assert "FAILED" not in out


def test_json_lists_every_check_of_the_example_as_passed(example_target):
    proc = cli("check-plugins", "--dist", "hashbench_example_loss", "--json", paths=[example_target])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] is True and report["failed"] == 0
    checks = {r["check"]: r for r in report["results"]}
    assert {r["component"] for r in report["results"]} == {"loss:pairwise_similarity"}
    assert list(checks) == ["example", "builds", "scalar", "finite", "gradient", "single_class_batch",
                            "no_positive_pair_batch", "multi_label", "classify", "state_dict", "on_epoch_start",
                            "weight_penalty"]
    assert all(r["passed"] and r["dist"] == EXAMPLE_DIST for r in report["results"])
    assert checks["classify"]["skipped"] and checks["weight_penalty"]["skipped"]  # it overrides neither
    assert not checks["multi_label"]["skipped"]


def test_a_broken_package_fails_naming_each_failing_check(example_target, broken_target):
    proc = cli("check-plugins", "--dist", "hashbench-broken-losses", paths=[example_target, broken_target])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED ")]
    assert any(line.startswith("FAILED loss:vector_loss scalar: returned (8,)") for line in failed), failed
    assert any(line.startswith("FAILED loss:forgetful state_dict:") and "register buffers" in line
               for line in failed), failed
    assert any(line.startswith("FAILED loss:not_written builds:") and "ModuleNotFoundError" in line
               for line in failed), failed
    assert len(failed) == 3, failed
    assert rows(proc.stdout) == {"loss:forgetful": ["hashbench-broken-losses", "11 (2 n/a)", "1", "state_dict"],
                                 "loss:not_written": ["hashbench-broken-losses", "1", "1", "builds"],
                                 "loss:vector_loss": ["hashbench-broken-losses", "2", "1", "scalar"]}
    assert "3 components, 17 checks: 14 passed" in proc.stdout and "3 failed (3 components fail)" in proc.stdout


def test_usage_errors_exit_2(example_target):
    unknown = cli("check-plugins", "--dist", "hashbench-example-los", paths=[example_target])
    assert unknown.returncode == 2
    assert "no component matches --dist hashbench-example-los" in unknown.stderr
    assert "did you mean 'hashbench-example-loss'" in unknown.stderr
    assert cli("check-plugins", "--kind", "losses").returncode == 2
    assert cli("check-plugins", "--name", "cqs").returncode == 2


def test_plugins_show_describes_a_component_without_rst_markup(example_target):
    proc = cli("plugins", "show", "csq")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "loss csq (hashbench 0.1.0)"
    assert lines[1].startswith("  Central Similarity Quantization (Yuan et al., CVPR 2020)")
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:] if line.startswith("  ") and len(line.split()) >= 3}
    assert rows["lam"] == ["float", "0.0001"] and rows["apply_tanh"] == ["bool", "true"]
    assert "bits" not in rows and "seed" not in rows  # context values are not table keys...
    context = next(line for line in lines if "context (set by hashbench)" in line)
    assert "bits (from head.bits)" in context and "num_classes (from the dataset)" in context  # ...listed apart
    installed = cli("plugins", "show", "pairwise_similarity", "--kind", "loss", paths=[example_target])
    assert installed.returncode == 0, installed.stderr
    text = installed.stdout
    assert "loss pairwise_similarity (hashbench-example-loss 0.1.0)" in text
    assert ("the pairs' similarity. A HashLoss with one override, compute_loss." in text)
    assert "`" not in text and ":class:" not in text
    assert "weight" in text and "float" in text and "1.0" in text


def test_plugins_verbose_lists_every_loss_with_its_keys_and_unknown_names_exit_2():
    proc = cli("plugins", "--kind", "loss", "-v")
    assert proc.returncode == 0, proc.stderr
    for name in ("batch_all_triplet", "csq", "dpsh", "hashnet", "dsh", "greedyhash", "orthohash", "dpn",
                 "cross_entropy"):
        assert f"loss {name} (hashbench 0.1.0)" in proc.stdout
    assert '"original"' in proc.stdout and "margin" in proc.stdout  # batch_all_triplet's keys and defaults
    table = cli("plugins", "--kind", "head")
    assert table.returncode == 0 and "sign_ste" in table.stdout and "summary" in table.stdout
    missing = cli("plugins", "show", "cqs")
    assert missing.returncode == 2 and "did you mean 'csq'" in missing.stderr
