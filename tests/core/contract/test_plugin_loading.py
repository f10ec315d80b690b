"""Plugin loading: a mistyped hook is a broken plugin (pluggy's check_pending), one plugin at a time; a run
that names a component of a plugin that failed to import prints one line.

The plugins are real modules with real distribution metadata (``*.dist-info/entry_points.txt``) in a
folder on the path, found by the same entry-point lookup as an installed package.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support import run_cli, tiny_experiment_text

from hashbench.contract import REFERENCE_DIST, load_registry


def install(site: Path, dist: str, module: str, source: str) -> Path:
    """Write module ``module`` and the metadata of distribution ``dist`` (entry point ``module``) into ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[hashbench]\n{module} = {module}\n")
    return site


TYPO = """\
    from hashbench import hookimpl


    @hookimpl
    def hashbench_backbone():  # the hook is hashbench_backbones
        return {"typo_net": lambda: None}


    @hookimpl
    def hashbench_heads():
        return {"typo_head": lambda feature_dim, bits: None}
    """
GOOD = """\
    from hashbench import hookimpl


    @hookimpl
    def hashbench_heads():
        return {"good_head": lambda feature_dim, bits: None}
    """


@pytest.fixture
def sites(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install(site, "hashbench-typo", "hashbench_typo_plugin", TYPO)
    install(site, "hashbench-good", "hashbench_good_plugin", GOOD)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_mistyped_hook_is_a_broken_plugin_and_the_others_still_load(sites):
    registry = load_registry(autoload=True)
    (broken,) = [b for b in registry.broken if b.dist == "hashbench-typo"]
    assert broken.entry_point == "hashbench_typo_plugin = hashbench_typo_plugin"
    assert broken.error == ("PluginError: it implements hashbench_backbone(), which is not a hashbench hook (did you"
                            " mean 'hashbench_backbones'?); the hooks are listed in hashbench.contract.hookspecs")
    heads = registry.names("head")
    assert "typo_head" not in heads  # nothing of a broken plugin is registered, not even its valid hooks
    assert "good_head" in heads and "tanh" in heads  # the plugin after it and the reference set load
    assert registry.get("head", "good_head").dist == "hashbench-good"
    assert registry.get("head", "tanh").dist == REFERENCE_DIST


def test_the_run_of_a_component_of_a_plugin_that_failed_to_import_prints_one_line(tmp_path):
    site = install(tmp_path / "site", "hashbench-crash", "hashbench_crash_plugin", """\
        raise ImportError("No module named 'missing_dependency'")
        """)
    toml = tmp_path / "exp.toml"
    toml.write_text(tiny_experiment_text().replace('name = "tanh"', 'name = "from_crash"'))
    proc = run_cli("validate", str(toml), env={"PYTHONPATH": str(site)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("error: unknown head 'from_crash'; available: ")
    assert line.endswith("; 1 plugin(s) failed to load: hashbench-crash (ImportError: No module named"
                         " 'missing_dependency') (see `hashbench plugins`)")
