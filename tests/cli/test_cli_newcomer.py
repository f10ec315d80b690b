"""What a newcomer hits first, through the real CLI in a subprocess (issue 17, failure path 5 and
frictions 3, 4, 7, 8): each wrong step gets one line that names the file, flag or command that fixes it."""
from __future__ import annotations

import numpy as np

from support import ROOT, run_cli, tiny_experiment_text


def test_leaderboard_names_a_missing_results_file(tmp_path):
    proc = run_cli("leaderboard", "--results", "missing.csv", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "error: results table missing.csv not found; check the path given to --results"
    assert not (tmp_path / "LEADERBOARD.md").exists()


def test_a_subcommand_typed_at_the_top_level_suggests_the_full_command(tmp_path):
    prepare = run_cli("prepare", cwd=tmp_path)
    assert prepare.returncode == 2
    assert "No such command 'prepare'. Did you mean `hashbench data prepare`?" in prepare.stderr
    fetch = run_cli("fetch", cwd=tmp_path)
    assert "Did you mean `hashbench weights fetch`?" in fetch.stderr
    typo = run_cli("lederboard", cwd=tmp_path)  # a plain typo keeps the close-match suggestion
    assert typo.returncode == 2 and "Did you mean 'leaderboard'?" in typo.stderr


def test_score_on_packed_npy_codes_names_the_bits_flag_and_the_npz_key_form(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("q", 5), ("d", 9)):
        np.save(tmp_path / f"{name}.npy", np.packbits(rng.integers(0, 2, (n, 64)), axis=1))
        np.save(tmp_path / f"{name}l.npy", np.arange(n) % 2)
    args = ["score", "--query-codes", "q.npy", "--db-codes", "d.npy", "--query-labels", "ql.npy",
            "--db-labels", "dl.npy"]
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "q.npy: uint8 values above 1 look like packed codes" in proc.stderr
    assert "--bits N" in proc.stderr and "FILE.npz:KEY" in proc.stderr
    assert run_cli(*args, "--bits", "64", cwd=tmp_path).returncode == 0  # the advice works


def test_plugins_through_a_pipe_prints_one_plain_line_per_component(tmp_path):
    proc = run_cli("plugins", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["kind", "name", "distribution", "version", "summary"]
    assert not any(ch in proc.stdout for ch in "│┃━─")  # no table borders
    csq = [line for line in lines if line.split()[:2] == ["loss", "csq"]]
    assert len(csq) == 1 and "hashbench" in csq[0] and len(csq[0].split()) > 4  # its summary on the same line
    # every component is one line: the line count is the header plus one per listed name
    listed = run_cli("plugins", "--kind", "metric", cwd=tmp_path).stdout.splitlines()
    assert all(line.split()[0] == "metric" for line in listed[1:]) and len(listed) > 3


def test_plugin_key_errors_name_the_experiment_file(tmp_path):
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(tiny_experiment_text().replace("margin = 4", "margin = 4\nmargn = 3"))
    proc = run_cli("validate", str(unknown), cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith(f"error: {unknown}: loss.margn: unknown key (did you mean 'margin'?)")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(tiny_experiment_text().replace("margin = 4", 'margin = "x"'))
    proc = run_cli("validate", str(wrong), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {wrong}: loss.margin: expected a number, got 'x' (str)"


def test_published_rows_ship_with_the_package_and_a_local_file_adds_rows(tmp_path):
    """From a folder of the user's own (no results/, no source tree): the shipped reference rows show;
    a local results/published.csv adds its rows to them; --no-published shows none."""
    from hashbench.results.published import published_rows, shipped_published

    shipped = shipped_published()
    files = [ROOT / "hashbench" / "results" / name for name in ("published.csv", "published_ssvh.csv")]
    assert len(published_rows(files)) == len(shipped)  # no doubles
    assert {"Video-Retrieval-C3D", "CSQ", "3D ResNet-50 (Hara)", "ConMH"} <= set(shipped["method"])
    assert 'hashbench = ["results/published.csv", "results/published_ssvh.csv"]' in \
        (ROOT / "pyproject.toml").read_text()  # in the wheel

    proc = run_cli("leaderboard", "-m", "top1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "| 3D ResNet-50 (Hara) †" in proc.stdout and "0 local rows" in proc.stdout
    assert "| Mine †" not in proc.stdout

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "published.csv").write_text(
        "source,method,dataset,metric,value\nmy notes,Mine,ucf101,top1,0.5\n")
    proc = run_cli("leaderboard", "-m", "top1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "| Mine †" in proc.stdout and "| 3D ResNet-50 (Hara) †" in proc.stdout
    assert "my notes" in proc.stdout  # the added source is named under the table
    mine = tmp_path / "mine.csv"
    mine.write_text("source,method,dataset,metric,value\nother notes,Theirs,hmdb51,top1,0.4\n")
    proc = run_cli("leaderboard", "-m", "top1", "--published", str(mine), cwd=tmp_path)
    assert "| Theirs †" in proc.stdout and "| Mine †" not in proc.stdout and "| 3D ResNet-50 (Hara) †" in proc.stdout
    proc = run_cli("leaderboard", "-m", "top1", "--no-published", cwd=tmp_path)
    assert proc.returncode == 2 and "no results for metric 'top1'" in proc.stderr
