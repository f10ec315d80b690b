"""A method from a separately pip-installed package, through the real CLI.

tests/packages/hashbench_example_method (a third-party-style package adding the ``binary_autoencoder``
method: fit, training_loss and encode) is pip-installed into a temporary folder and put on PYTHONPATH,
as a plugin author's package would be. The conformance kit passes on it, both as ``hashbench
check-plugins --dist`` and as the pytest recipe of the kit's documentation; a deliberately broken method
package fails the checks it breaks. ``hashbench plugins`` lists it, ``plugins show`` gives its keys,
and ``hashbench run`` of a ``[method]`` TOML trains it and writes its rows. The test venv is never changed.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import ROOT, pip_install

EXAMPLE_SOURCE = ROOT / "tests" / "packages" / "hashbench_example_method"
EXAMPLE_DIST = "hashbench-example-method"
#: The kit's documented pytest recipe (hashbench.contract.conformance's docstring), for this package.
KIT_RECIPE = '''
import pytest
from hashbench.contract.conformance import assert_conforms, component_id, select_components

COMPONENTS = select_components(dist="hashbench-example-method")


def test_the_package_registers_one_method():
    assert [component_id(c) for c in COMPONENTS] == ["method:binary_autoencoder"]


@pytest.mark.parametrize("component", COMPONENTS, ids=component_id)
def test_conformance(component):
    assert_conforms(component)
'''
BROKEN_MODULE = '''
"""Methods that break the contract, one way each."""
import torch
from torch import nn

from hashbench import hookimpl
from hashbench.contract import HashMethod, pooled_inputs


class Unseeded(HashMethod):
    """fit draws from the global generator: two fits on the same data differ."""

    def fit(self, train):
        pooled = pooled_inputs(train)
        self.register_buffer("projection", torch.randn(pooled.shape[1], self.bits))

    def encode(self, inputs):
        return inputs.float().mean(dim=1) @ self.projection


class Forgetful(HashMethod):
    """Keeps its fitted mean in a plain attribute: not in the state dict, lost by a checkpoint."""

    def __init__(self, bits, seed=0):
        super().__init__(bits, seed)
        torch.manual_seed(seed)
        self.projection = nn.Linear(16, bits)
        self.centre = torch.zeros(16)

    def fit(self, train):
        self.centre = pooled_inputs(train).mean(dim=0)

    def encode(self, inputs):
        return self.projection(inputs.float().mean(dim=1) - self.centre)


def unseeded(bits: int, seed: int = 0):
    return Unseeded(bits, seed)


def forgetful(bits: int, seed: int = 0):
    return Forgetful(bits, seed)


@hookimpl
def hashbench_methods():
    return {"unseeded": unseeded, "forgetful": forgetful}
'''
RUN_TOML = """name = "autoencoder"
seed = 0
device = "cpu"

[dataset]
name = "moving_digits_features"   # the embedded frame features: 25 frames x 64 values per clip

[method]
name = "binary_autoencoder"
bits = 16
quantization = 0.5

[train]
epochs = 2
batch_size = 32
optimizer = { name = "adam", lr = 1e-2 }

[eval]
metrics = ["map", "map@10"]
"""


def broken_package(root: Path) -> Path:
    """The example's packaging, renamed, around :data:`BROKEN_MODULE` (hashbench-broken-methods 0.1.0)."""
    (root / "hashbench_broken_methods").mkdir(parents=True)
    pyproject = (EXAMPLE_SOURCE / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(pyproject.replace("example-method", "broken-methods")
                                         .replace("example_method", "broken_methods"))
    (root / "hashbench_broken_methods" / "__init__.py").write_text("")
    (root / "hashbench_broken_methods" / "plugin.py").write_text(BROKEN_MODULE)
    return root


def run(*args: str, paths=(), cwd: Path = ROOT, timeout=600) -> subprocess.CompletedProcess:
    """``python ARGS`` in a real subprocess with only ``paths`` on PYTHONPATH (plugin autoload on)."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("HASHBENCH_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH", "HASHBENCH_RESULTS")}
    environment.update({"COLUMNS": "250", "NO_COLOR": "1", "OMP_NUM_THREADS": "2",
                        "PYTHONPATH": os.pathsep.join(map(str, paths))})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=environment, cwd=cwd,
                          timeout=timeout)


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run("-m", "hashbench", *args, **kwargs)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return pip_install(EXAMPLE_SOURCE, tmp_path_factory.mktemp("method") / "site")


@pytest.mark.slow
def test_the_installed_package_passes_every_method_check_of_the_kit(site):
    assert (site / "hashbench_example_method" / "method.py").is_file()
    assert any(p.name.startswith("hashbench_example_method-0.1.0.dist-info") for p in site.iterdir())
    proc = cli("check-plugins", "--dist", EXAMPLE_DIST, "--json", paths=[site])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] is True and report["failed"] == 0
    checks = {r["check"]: r for r in report["results"]}
    assert {r["component"] for r in report["results"]} == {"method:binary_autoencoder"}
    assert list(checks) == ["example", "builds", "consumes", "fit", "encode", "training_loss", "state_dict",
                            "resume", "on_epoch_start"]
    assert not any(r["skipped"] for r in report["results"])  # every stage is exercised, none "not defined"
    assert all(r["passed"] and r["dist"] == EXAMPLE_DIST for r in report["results"])
    assert "gradients reach every parameter" in checks["training_loss"]["message"]


@pytest.mark.slow
def test_the_kits_documented_pytest_recipe_passes_on_the_package(site, tmp_path):
    (tmp_path / "test_my_package.py").write_text(KIT_RECIPE)
    proc = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_package.py", paths=[site], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


@pytest.mark.slow
def test_a_broken_method_package_fails_the_checks_it_breaks(site, tmp_path):
    broken = pip_install(broken_package(tmp_path / "hashbench_broken_methods"), tmp_path / "broken-site")
    proc = cli("check-plugins", "--dist", "hashbench-broken-methods", paths=[site, broken])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = sorted(line.split(":", 2)[1] for line in proc.stdout.splitlines() if line.startswith("FAILED "))
    assert failed == ["forgetful state_dict", "unseeded fit"], proc.stdout


@pytest.mark.slow
def test_plugins_lists_the_method_and_show_gives_its_keys(site):
    listing = cli("plugins", "--kind", "method", paths=[site])
    assert listing.returncode == 0, listing.stderr
    line = next(line for line in listing.stdout.splitlines() if "binary_autoencoder" in line)
    assert line.split()[:4] == ["method", "binary_autoencoder", EXAMPLE_DIST, "0.1.0"]
    assert "itq" in listing.stdout  # the reference set's methods beside it
    shown = cli("plugins", "show", "binary_autoencoder", paths=[site])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"method binary_autoencoder ({EXAMPLE_DIST} 0.1.0)"
    keys = {line.split()[0]: line.split()[1:] for line in lines[3:] if line.startswith("  ") and len(line.split()) >= 3}
    assert keys["bits"] == ["int", "required"] and keys["quantization"] == ["float", "0.1"]
    assert "seed" not in keys and "feature_dim" not in keys  # injected context, listed apart
    context = next(line for line in lines if "context (set by hashbench)" in line)
    assert "seed" in context and "feature_dim" in context
    unknown = cli("plugins", "show", "binary_autoencodr", paths=[site])
    assert unknown.returncode == 2 and "binary_autoencoder" in unknown.stderr and "Traceback" not in unknown.stderr


@pytest.mark.training
def test_hashbench_run_trains_the_installed_method_and_writes_its_rows(site, tmp_path):
    (tmp_path / "autoencoder.toml").write_text(RUN_TOML)
    proc = cli("run", "autoencoder.toml", "--runs-dir", "runs", "--results", "results.csv", paths=[site],
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["metric"], r["method"], r["bits"], r["dataset"], r["epoch"]) for r in rows] == \
        [("map", "binary_autoencoder", "16", "moving_digits_features", "2"),
         ("map@10", "binary_autoencoder", "16", "moving_digits_features", "2")]
    assert all(0.0 < float(r["value"]) <= 1.0 for r in rows)
    (run_dir,) = list((tmp_path / "runs" / "autoencoder").iterdir())
    record = json.loads((run_dir / "record.json").read_text())
    assert record["status"] == "finished" and len(record["epochs"]) == 2
    assert record["epochs"][1]["loss"] < record["epochs"][0]["loss"]  # it learns
    state = torch.load(run_dir / "model.pt", weights_only=True)["model"]  # the installed method's own state
    assert set(state) == {"encoder.weight", "encoder.bias", "decoder.weight", "decoder.bias", "mean", "std"}
    assert state["encoder.weight"].shape == (16, 64) and float(state["std"].min()) > 0  # fitted, not the init
