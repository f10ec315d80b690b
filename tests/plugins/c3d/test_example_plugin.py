"""The example plugin package plugins/hashbench_c3d (backbone ``c3d_small``): a REAL pip install, found by
the real CLI, beside the reference set's faithful ``c3d`` without a name clash.

Each package is pip-installed (``--target`` a temporary folder, from a copy of its source) and used
by subprocesses of the CLI with ``PYTHONPATH`` pointing there, so the test venv is never mutated.
Also covers plugin robustness: a package that raises on import, the autoload switch, and two
distributions registering the same backbone name.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import ROOT, pip_install, tiny_experiment_text

REPO = ROOT
C3D_SOURCE = REPO / "plugins" / "hashbench_c3d"




def make_package(root: Path, dist: str, module: str, body: str) -> Path:
    """A minimal plugin distribution: pyproject.toml + one module registered as entry point."""
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "0.2.0"

        [project.entry-points.hashbench]
        {module} = "{module}"

        [tool.setuptools]
        py-modules = ["{module}"]
        """))
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    return root


def cli(*args: str, paths=(), env=None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    """Run ``python -m hashbench ARGS`` with the given install folders on PYTHONPATH."""
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("HASHBENCH_DISABLE_PLUGIN_AUTOLOAD", "PYTHONPATH")}
    environment.update({"COLUMNS": "250", "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(map(str, paths)),
                        "OMP_NUM_THREADS": "2"})
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "hashbench", *args], capture_output=True, text=True,
                          env=environment, cwd=cwd, timeout=timeout)


def listed(output: str) -> dict[tuple[str, str], str]:
    """(kind, name) -> distribution, parsed from the `hashbench plugins` table."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]|\s{2,}", line)]  # a table, or the plain lines of a pipe
        cells = [c for c in cells if c]
        if len(cells) >= 3 and cells[0] in ("backbone", "head", "loss", "dataset", "metric"):
            rows[(cells[0], cells[1])] = cells[2]
    return rows


@pytest.fixture(scope="module")
def c3d_target(tmp_path_factory) -> Path:
    return pip_install(C3D_SOURCE, tmp_path_factory.mktemp("c3d") / "site")


def test_installed_plugin_is_listed(c3d_target):
    assert (c3d_target / "hashbench_c3d" / "model.py").is_file()
    assert list(c3d_target.glob("hashbench_c3d-0.2.0.dist-info/entry_points.txt"))
    proc = cli("plugins", paths=[c3d_target])
    assert proc.returncode == 0, proc.stderr
    rows = listed(proc.stdout)
    assert rows[("backbone", "c3d_small")] == "hashbench-c3d"
    assert rows[("backbone", "c3d")] == "hashbench"  # the faithful C3D of the reference set: no clash
    assert rows[("backbone", "r3d18")] == "hashbench"
    assert "C3D of Tran et al. with a width multiplier" in proc.stdout
    # ... and without the install folder it is not there: the listing comes from the installation.
    assert ("backbone", "c3d_small") not in listed(cli("plugins").stdout)


def test_installed_plugin_passes_the_conformance_kit(c3d_target):
    proc = cli("check-plugins", "--dist", "hashbench-c3d", "--json", paths=[c3d_target])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["passed"] and report["failed"] == 0
    assert {r["component"] for r in report["results"]} == {"backbone:c3d_small"}
    assert {r["dist"] for r in report["results"]} == {"hashbench-c3d"}


def test_installed_plugin_builds_through_the_registry(c3d_target):
    script = textwrap.dedent("""\
        import json, sys, torch, hashbench
        reg = hashbench.registry()
        component = reg.get("backbone", "c3d_small")
        model = hashbench.build_model({"name": "c3d_small", "width": 4, "fc_dim": 32, "batch_norm": True},
                                      {"name": "tanh", "bits": 16}).eval()
        clips = torch.randint(0, 256, (2, 3, 8, 32, 32), dtype=torch.uint8)
        codes = model(model.normalize(clips))
        try:
            reg.build("backbone", {"name": "c3d_small", "widht": 4})
        except hashbench.ConfigError as exc:
            typo = str(exc)
        try:
            reg.build("backbone", {"name": "c3d_small", "fc_dim": "32"})
        except hashbench.ConfigError as exc:
            typo += " | " + str(exc)
        print(json.dumps({"dist": component.dist, "version": component.version,
                          "file": sys.modules[type(model.backbone).__module__].__file__,
                          "feature_dim": model.backbone.feature_dim, "shape": list(codes.shape),
                          "max": codes.abs().max().item(), "mean": list(model.backbone.input_mean),
                          "typo": typo}))
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(c3d_target)))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (out["dist"], out["version"]) == ("hashbench-c3d", "0.2.0")
    assert Path(out["file"]).resolve().is_relative_to(c3d_target.resolve())  # the installed copy
    assert out["feature_dim"] == 32 and out["shape"] == [2, 16] and 0 < out["max"] <= 1
    from hashbench_ref.backbones.normalization import C3D_RETRIEVAL  # the plugin's copy agrees with hashbench's

    assert out["mean"] == pytest.approx(list(C3D_RETRIEVAL[0]))
    assert "backbone.widht: unknown key (did you mean 'width'?)" in out["typo"]
    assert "backbone.fc_dim: expected an integer, got '32'" in out["typo"]


def test_plugin_imports_only_the_hook_marker_from_hashbench():
    """Plugins never import the runner (or anything else of the core) -- only ``hashbench.hookimpl``."""
    found = []
    for source in (C3D_SOURCE / "hashbench_c3d").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] == "hashbench":
                    found.append((source.name, node.module, tuple(a.name for a in node.names)))
            elif isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "hashbench" for a in node.names), source
    assert found == [("plugin.py", "hashbench", ("hookimpl",))]


TINY_EXPERIMENT = tiny_experiment_text(name="c3d-tiny", epochs=1, size=16, num_frames=4,
                                       backbone='name = "c3d_small"\nwidth = 4\nfc_dim = 32', clips_per_class=3,
                                       queries_per_class=1, batch_size=12, metrics='["map", "map@5"]')


@pytest.mark.training
def test_tiny_experiment_runs_with_the_plugin_backbone(c3d_target, tmp_path):
    import pandas as pd

    toml = tmp_path / "c3d_tiny.toml"
    toml.write_text(TINY_EXPERIMENT)
    results = tmp_path / "results.csv"
    proc = cli("run", str(toml), "--quiet", "--runs-dir", str(tmp_path / "runs"), "--results", str(results),
               paths=[c3d_target], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = pd.read_csv(results)
    assert set(rows["backbone"]) == {"c3d_small"}
    assert set(rows["metric"]) == {"map", "map@5"}
    assert rows["value"].between(0, 1).all()
    assert set(rows["experiment"]) == {"c3d-tiny"}
    assert list((tmp_path / "runs" / "c3d-tiny").iterdir())  # a run directory was written


@pytest.fixture(scope="module")
def broken_target(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("broken")
    source = make_package(root / "pkg", "hashbench-broken", "hashbench_broken_plugin", """\
        raise RuntimeError("boom: this plugin cannot be imported")
        """)
    return pip_install(source, root / "site")


def test_plugin_that_raises_on_import_is_reported_not_fatal(c3d_target, broken_target):
    proc = cli("plugins", paths=[c3d_target, broken_target])
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"broken plugin .*hashbench-broken.*RuntimeError: boom", proc.stdout), proc.stdout
    rows = listed(proc.stdout)
    assert rows[("backbone", "c3d_small")] == "hashbench-c3d"
    assert rows[("loss", "batch_all_triplet")] == "hashbench"


def test_asking_for_a_component_while_a_plugin_is_broken_names_the_broken_plugin(broken_target, tmp_path):
    toml = tmp_path / "exp.toml"
    toml.write_text(tiny_experiment_text().replace('name = "tanh"', 'name = "from_broken"'))
    proc = cli("validate", str(toml), paths=[broken_target])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (error,) = proc.stderr.strip().splitlines()  # one line: the error names the plugin and why it failed
    assert error == ("error: unknown head 'from_broken'; available: bn, linear, scaled_tanh, sign_ste, tanh; 1 plugin(s) failed to load:"
                     " hashbench-broken (RuntimeError: boom: this plugin cannot be imported) (see `hashbench plugins`)")


def test_disable_autoload_hides_third_party_plugins(c3d_target, broken_target):
    proc = cli("plugins", paths=[c3d_target, broken_target], env={"HASHBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert proc.returncode == 0, proc.stderr
    rows = listed(proc.stdout)
    assert ("backbone", "c3d_small") not in rows
    assert rows[("backbone", "c3d")] == "hashbench"  # the reference set is not a third-party plugin
    assert "hashbench-broken" not in proc.stdout
    assert rows[("backbone", "r3d18")] == "hashbench"
    assert rows[("head", "tanh")] == "hashbench"


def fork_package(root: Path, dist: str, module: str, name: str) -> Path:
    """A distribution registering one backbone called ``name`` (never built)."""
    return make_package(root, dist, module, f"""\
        from hashbench import hookimpl

        def another(width: int = 8):
            \"\"\"Another C3D.\"\"\"
            raise AssertionError("never built")

        @hookimpl
        def hashbench_backbones():
            return {{"{name}": another}}
        """)


def test_two_distributions_with_the_same_backbone_name_is_an_error(c3d_target, tmp_path):
    fork = pip_install(fork_package(tmp_path / "pkg", "hashbench-c3d-fork", "hashbench_c3d_fork", "c3d_small"),
                       tmp_path / "site")
    proc = cli("plugins", paths=[c3d_target, fork])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = proc.stderr.strip()
    assert "c3d_small" in message and "hashbench-c3d " in message and "hashbench-c3d-fork" in message
    assert "Traceback" not in proc.stderr and len(message.splitlines()) == 1


def test_a_plugin_taking_a_reference_name_is_an_error_too(tmp_path):
    """Why the example was renamed: registering `c3d` beside the reference set's faithful C3D is a clash."""
    clash = pip_install(fork_package(tmp_path / "pkg", "hashbench-old-c3d", "hashbench_old_c3d", "c3d"),
                        tmp_path / "site")
    proc = cli("plugins", paths=[clash])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = proc.stderr.strip()
    assert "c3d" in message and "hashbench-old-c3d" in message and "hashbench " in message
    assert "Traceback" not in proc.stderr and len(message.splitlines()) == 1


def test_c3d_shapes_and_validation(monkeypatch):
    """The model itself (imported from the package source): original C3D sizes, tiny inputs, bad keys."""
    import torch

    monkeypatch.syspath_prepend(str(C3D_SOURCE))
    from hashbench_c3d.factories import c3d_small as c3d

    with torch.device("meta"):  # shapes only: no 78M-parameter allocation
        original = c3d(width=64, fc_dim=4096)
    shapes = {k: tuple(v.shape) for k, v in original.state_dict().items()}
    assert shapes["conv1.weight"] == (64, 3, 3, 3, 3) and shapes["conv2.weight"] == (128, 64, 3, 3, 3)
    assert shapes["conv3b.weight"] == (256, 256, 3, 3, 3) and shapes["conv5b.weight"] == (512, 512, 3, 3, 3)
    assert shapes["fc6.weight"] == (4096, 8192) and shapes["fc7.weight"] == (4096, 4096)
    small = c3d(width=2, fc_dim=8, batch_norm=True).eval()
    with torch.no_grad():
        for t, side in ((1, 16), (4, 32), (9, 20)):
            assert small(torch.randn(2, 3, t, side, side)).shape == (2, 8)
    assert small.feature_dim == 8
    with pytest.raises(ValueError, match=r"backbone\.width: must be a positive integer"):
        c3d(width=0)
    with pytest.raises(ValueError, match=r"backbone\.dropout"):
        c3d(dropout=1.0)
