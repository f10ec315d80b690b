"""hashbench.run.cluster: sweep points as submitit jobs (``--launcher local`` runs the slurm code path on
this machine through submitit's LocalExecutor), the ``[launcher]`` table and the submitted-points record."""
from __future__ import annotations

import json

import pytest
from support import run_cli, tiny_experiment_text

from hashbench.config import experiment_from_dict, load_experiment
from hashbench.errors import ConfigError
from hashbench.results import read_results
from hashbench.run.cluster import LauncherOptions

pytest.importorskip("submitit")


def sweep_toml(folder, launcher: str = "time = 10\n"):
    text = tiny_experiment_text(epochs=1, batch_size=16, num_frames=4, backbone='name = "r3d18"\nwidth = 4',
                                metrics='["map"]')
    path = folder / "sweep.toml"
    path.write_text(text + "\n[sweep]\nseed = [0, 1]\n[launcher]\n" + launcher)
    return path


@pytest.mark.training
@pytest.mark.slow
def test_local_launcher_runs_a_two_point_sweep_and_skips_both_the_second_time(tmp_path):
    toml = sweep_toml(tmp_path)
    env = {"OMP_NUM_THREADS": "1"}
    first = run_cli("run", str(toml), "--launcher", "local", "--results", "results.csv", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("submitted tiny@seed=") == 2 and first.stdout.count(": finished") == 2
    rows = read_results(tmp_path / "results.csv")
    assert sorted(rows["seed"].tolist()) == [0, 1]  # each job appended its point's row
    jobs = json.loads((tmp_path / "runs" / "tiny" / "jobs.json").read_text())
    assert [j["point"] for j in jobs] == ["tiny@seed=0", "tiny@seed=1"] and all(j["job_id"] for j in jobs)
    listing = run_cli("runs", cwd=tmp_path)
    assert listing.returncode == 0 and listing.stdout.count("finished") >= 4  # 2 jobs + 2 runs

    second = run_cli("run", str(toml), "--launcher", "local", "--results", "results.csv", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("skip tiny@seed=") == 2 and "submitted" not in second.stdout
    assert len(read_results(tmp_path / "results.csv")) == 2


def test_a_bad_point_fails_in_one_line_before_anything_is_submitted(tmp_path):
    toml = sweep_toml(tmp_path)
    proc = run_cli("run", str(toml), "--launcher", "local", "--no-record", "--set", "dataset.size=-3",
                   cwd=tmp_path)
    assert proc.returncode == 2 and "dataset.size" in proc.stderr  # checked before anything is submitted


def test_the_launcher_table_is_checked_and_never_changes_the_config_hash(tmp_path):
    with_launcher = load_experiment(sweep_toml(tmp_path, 'gpus = 2\npartition = "gpu"\nslurm = { account = "x" }\n'))
    assert with_launcher.launcher == {"gpus": 2, "partition": "gpu", "slurm": {"account": "x"}}
    doc = dict(with_launcher.raw)
    doc.pop("launcher")
    assert experiment_from_dict(doc).config_hash() == with_launcher.config_hash()
    with pytest.raises(ConfigError, match="unknown key launcher.gpu"):
        load_experiment(sweep_toml(tmp_path, "gpu = 2\n"))


def test_launcher_options_become_submitit_parameters():
    options = LauncherOptions(gpus=4, time=120, slurm={"account": "abc"}).merged(
        partition="gpu", mem_gb=64.0, gpus=None, slurm={"qos": "high"})
    params = options.parameters("hashbench-x")
    assert params == {"name": "hashbench-x", "timeout_min": 120, "nodes": 1, "tasks_per_node": 4, "gpus_per_node": 4,
                      "mem_gb": 64.0, "slurm_partition": "gpu", "slurm_account": "abc", "slurm_qos": "high"}


@pytest.mark.training
@pytest.mark.slow
def test_a_point_with_two_gpus_is_one_job_of_two_tasks_running_one_distributed_run(tmp_path):
    """submitit's tasks become torch.distributed ranks (on the CPU: gloo; the local executor starts the
    two tasks without GPUs)."""
    toml = sweep_toml(tmp_path, "gpus = 2\n")
    proc = run_cli("run", str(toml), "--launcher", "local", "--results", "results.csv", "--set", "sweep={seed=[0]}",
                   cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tiny@seed=0: finished" in proc.stdout
    (record,) = list((tmp_path / "runs").glob("tiny@seed=0/*/record.json"))
    assert json.loads(record.read_text())["world_size"] == 2
    assert len(read_results(tmp_path / "results.csv")) == 1  # rank 0 alone appended


def test_without_submitit_the_launcher_says_which_extra_to_install(monkeypatch, tmp_path):
    import sys

    from hashbench.errors import MissingExtraError
    from hashbench.run.cluster import submit_points

    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now raises ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'hashbench\[slurm\]'"):
        submit_points(tmp_path / "x.toml", [], [], [], "slurm", LauncherOptions(), tmp_path, None, "x")
