"""Ctrl-C inside the two resumable commands (`data prepare`, `features extract`): one line that names the folder
and says to run the same command again, exit 130, no traceback. In-process: the interrupt is raised by the
step itself (a real SIGINT of a run is tested in test_cli_faults.py)."""
from __future__ import annotations

from types import SimpleNamespace

from typer.testing import CliRunner

import hashbench.data.extract
from hashbench.cli import data_cmd
from hashbench.cli._app import app


def interrupted(*args, **kwargs):
    raise KeyboardInterrupt


def test_features_extract_interrupted_says_how_to_continue(tmp_path, monkeypatch):
    monkeypatch.setattr(hashbench.data.extract, "extract_features", interrupted)
    out = tmp_path / "feats"
    result = CliRunner().invoke(app, ["features", "extract", "moving_digits", "--out", str(out), "-q"])
    assert result.exit_code == 130, result.output
    assert result.output.strip() == f"interrupted; run the same command again to continue ({out})"
    assert "Traceback" not in result.output


def test_data_prepare_interrupted_says_how_to_continue(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    dataset = SimpleNamespace(all_videos=["a.avi"], cache_dir=cache, resize=(16, 16), provenance={},
                              prepare=interrupted)
    monkeypatch.setattr(data_cmd, "_build", lambda *args, **kwargs: dataset)
    result = CliRunner().invoke(app, ["data", "prepare", "ucf101", "--root", str(tmp_path), "-q", "-w", "0"])
    assert result.exit_code == 130, result.output
    assert result.output.splitlines()[-1] == f"interrupted; run the same command again to continue ({cache})"
    assert "Traceback" not in result.output
