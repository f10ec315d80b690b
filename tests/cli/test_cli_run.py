"""`hashbench run` / `validate` through a real subprocess: output, errors (exit 2, one line), sweeps."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.training
def test_run_prints_metrics_and_appends_rows(cli, tiny_toml, tmp_path):
    results = tmp_path / "results.csv"
    proc = cli("run", str(tiny_toml(epochs=1)), "--results", str(results), "--runs-dir",
               str(tmp_path / "runs"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "map_tie" in proc.stdout and "rows appended to" in proc.stdout
    rows = _rows(results)
    assert [r["metric"] for r in rows] == ["map", "map@10", "map_tie"]
    assert len({r["run_id"] for r in rows}) == 1


def test_validate_builds_everything_without_training(cli, tiny_toml, tmp_path):
    proc = cli("validate", str(tiny_toml()), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "ok tiny" in proc.stdout and "48 train / 24 query / 48 database" in proc.stdout
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


BAD = {
    "syntax": ("\nseed = = 3\n", r"bad\.toml:\d+:\d+: TOML syntax error"),
    "unknown key": ("[train]\nepochz = 3\n", r"train\.epochz.*did you mean 'epochs'"),
    "unknown plugin": ('[backbone]\nname = "r3d19"\n', r"unknown backbone 'r3d19'.*available: .*r3d18"),
    "wrong type": ('[train]\nepochs = "many"\n', r"train\.epochs"),
    "unknown component key": ("[loss]\nname = \"batch_all_triplet\"\nmargn = 3\n",
                              r"loss\.margn: unknown key \(did you mean 'margin'\?\)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("command", [pytest.param("run", marks=pytest.mark.training), "validate"])
def test_bad_experiments_fail_in_one_line_with_exit_2(cli, tiny_toml, tmp_path, case, command):
    text, pattern = BAD[case]
    base = tiny_toml().read_text()
    if case == "syntax":
        content = base + text
    else:  # replace the table the snippet names, keep the rest valid
        table = text.split("]")[0] + "]"
        head, _, tail = base.partition(table)
        rest = tail.split("\n[", 1)[1] if "\n[" in tail else ""
        content = head + text + ("\n[" + rest if rest else "")
    bad = tmp_path / "bad.toml"
    bad.write_text(content)
    results = tmp_path / "results.csv"
    proc = cli(command, str(bad), "--results", str(results), cwd=tmp_path) if command == "run" else \
        cli(command, str(bad), cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert not results.exists() and not (tmp_path / "runs").exists()


def test_missing_experiment_file_is_one_line(cli, tmp_path):
    proc = cli("run", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert proc.returncode == 2 and "nope.toml" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.training
def test_set_overrides_reach_the_run(cli, tiny_toml, tmp_path):
    results = tmp_path / "results.csv"
    proc = cli("run", str(tiny_toml(epochs=3)), "--set", "train.epochs=1", "--set", "head.bits=8",
               "--results", str(results), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert {(r["bits"], r["epoch"]) for r in _rows(results)} == {("8", "1")}


@pytest.mark.training
def test_sweep_runs_every_point_once_and_resumes(cli, tiny_toml, tmp_path):
    path = tiny_toml(epochs=1, extra='\n[sweep]\n"head.bits" = [8, 16]\nseed = [0, 1]\n')
    results = tmp_path / "results.csv"
    args = ("run", str(path), "--results", str(results), "--runs-dir", str(tmp_path / "runs"), "--quiet")
    first = cli(*args, "--jobs", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    rows = _rows(results)
    assert len({r["run_id"] for r in rows}) == 4 and len(rows) == 4 * 3
    assert {(r["bits"], r["seed"]) for r in rows} == {("8", "0"), ("8", "1"), ("16", "0"), ("16", "1")}

    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert "4 points, 0 to run" in again.stdout
    assert len(_rows(results)) == len(rows)

    board = cli("leaderboard", "--results", str(results), "--metric", "map", "--out", str(tmp_path / "lb.md"))
    assert board.returncode == 0, board.stderr
    text = (tmp_path / "lb.md").read_text()
    assert "8" in text and "16" in text and "n=2" in text


@pytest.mark.parametrize("command,words", [
    ("run", ["every point of its [sweep]", "[default: $HASHBENCH_RESULTS or results/results.csv]",
             "--no-record", "--unset"]),
    ("leaderboard", ["COLUMN=VALUE[,VALUE]"]),
])
def test_help_texts_keep_every_word(cli, command, words):
    proc = cli(command, "--help")
    text = " ".join(proc.stdout.split())
    for phrase in words:
        assert phrase in text, phrase


@pytest.mark.training
def test_skipping_a_finished_experiment_says_how_to_run_it_again(cli, tiny_toml, tmp_path):
    path, results = tiny_toml(epochs=1), tmp_path / "r.csv"
    assert cli("run", str(path), "--runs-dir", str(tmp_path / "runs"), "--results", str(results), "-q").returncode == 0
    again = cli("run", str(path), "--runs-dir", str(tmp_path / "runs"), "--results", str(results), "-q")
    assert again.returncode == 0
    assert "already in" in again.stdout and "add --force to run it again" in again.stdout
