"""The fault matrix: bad input and failures through the real CLI, each checked the same four ways.

Every case runs ``hashbench`` in a subprocess on real files (TOML, split lists, real video clips, a
really pip-installed plugin package that breaks the contract on purpose: tests/packages/hashbench_faults)
and asserts

1. the exit code (2 for a problem of the input, data, plugin or environment; 130 when interrupted);
2. one line on stderr, and no "Traceback" anywhere in the output;
3. the run directory: none at all for failures before the first epoch, else ``record.json`` marked
   ``failed`` (with the message and epoch) or ``interrupted`` — never left ``running``;
4. the results table: byte-identical to before, or exactly one new row set.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest
import torch
from support import HASHBENCH, ROOT, add_bad_files, pip_install, run_cli, tiny_experiment_text, ucf_tree

from hashbench.results import append_rows, metric_rows, read_results

#: Every case runs `hashbench run` (or sweep) in a real subprocess: a training run, or one that must stop before it.
pytestmark = pytest.mark.training

FAULTS_SOURCE = ROOT / "tests" / "packages" / "hashbench_faults"
METRICS = '["map", "map@10"]'
FAULTY = {
    "backbone": 'name = "faulty_backbone"\nmode = "{mode}"',
    "head": 'name = "faulty_head"\nbits = 16\nmode = "{mode}"',
    "loss": 'name = "faulty_loss"\nmode = "{mode}"\nat_step = {at_step}',
}


@pytest.fixture(scope="session")
def faults_site(tmp_path_factory) -> Path:
    """hashbench-faults, pip-installed (--target) once for the session; put it on PYTHONPATH."""
    return pip_install(FAULTS_SOURCE, tmp_path_factory.mktemp("faults-site"))


@dataclass
class Workspace:
    """A folder with runs/, an existing results table (one earlier run's rows) and experiment files."""

    root: Path
    site: Path
    results: Path = field(init=False)
    env: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.results = self.root / "results.csv"
        self.runs = self.root / "runs"
        base = {c: "" for c in ("time", "split", "data_checksum", "git_commit", "config")}
        base.update(run_id="earlier-run", experiment="earlier", method="r3d18+tanh+batch_all_triplet",
                    dataset="moving_digits", backbone="r3d18", head="tanh", loss="batch_all_triplet", bits=16,
                    frames=8, epoch=2, selection="last", seed=0, config_hash="0123456789abcdef",
                    hashbench_version="0.1.0", torch_version="2", device="cpu", data_origin="generated",
                    skipped=0)
        append_rows(self.results, metric_rows(base, {"map": 0.5, "map@10": 0.6}))
        self.env = {"PYTHONPATH": str(self.site)}

    def toml(self, text: str, name: str = "exp.toml") -> Path:
        path = self.root / name
        path.write_text(text)
        return path

    def tiny(self, *, backbone: str = 'name = "r3d18"\nwidth = 8', head: str = "", loss: str = "",
             extra: str = "", epochs: int = 1, batch_size: int = 16, name: str = "tiny", **kwargs) -> Path:
        text = tiny_experiment_text(name=name, epochs=epochs, backbone=backbone, metrics=METRICS,
                                    batch_size=batch_size, clips_per_class=kwargs.pop("clips_per_class", 4),
                                    queries_per_class=2, **kwargs)
        if head:
            text = text.replace('[head]\nname = "tanh"\nbits = 16', f"[head]\n{head}")
        if loss:
            text = text.replace('[loss]\nname = "batch_all_triplet"\nmargin = 4', f"[loss]\n{loss}")
        return self.toml(text + extra)

    def run(self, *args: str, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        return run_cli(*args, cwd=self.root, env={**self.env, **(env or {})}, timeout=600)

    def hashbench_run(self, toml: Path, *extra: str, env: Optional[dict] = None) -> subprocess.CompletedProcess:
        return self.run("run", str(toml), "--runs-dir", str(self.runs), "--results", str(self.results), "-q",
                        *extra, env=env)

    def run_dirs(self) -> list[Path]:
        return sorted(p.parent for p in self.runs.glob("*/*/record.json"))

    def records(self) -> list[dict]:
        return [json.loads((d / "record.json").read_text()) for d in self.run_dirs()]


@pytest.fixture
def ws(tmp_path, faults_site) -> Workspace:
    return Workspace(tmp_path, faults_site)


def faulty(kind: str, mode: str, at_step: int = 1) -> str:
    return FAULTY[kind].format(mode=mode, at_step=at_step)


def ucf_experiment(ws: Workspace, root: Path, lists: Path, extra: str = "") -> Path:
    return ws.toml(f"""
name = "ucf-tiny"
device = "cpu"
[dataset]
name = "ucf101"
root = "{root}"
lists = "{lists}"
num_frames = 4
resize = [32, 43]
crop = 32
source = "files"
{extra}
[backbone]
name = "faulty_backbone"
[head]
name = "tanh"
bits = 16
[loss]
name = "batch_all_triplet"
margin = 4
[train]
epochs = 1
batch_size = 4
[eval]
metrics = {METRICS}
""")


# -- the cases ---------------------------------------------------------------------------------------
@dataclass
class Case:
    """``setup(ws)`` returns the CLI arguments; the rest is what must be observed."""

    setup: Callable[[Workspace], list]
    message: str                      # regex the single stderr line must match
    status: Optional[str] = None      # None: no run directory at all
    exit_code: int = 2
    table: str = "same"               # "same" (byte-identical) or "one" (exactly one new row set)
    error_epoch: Optional[int] = None


def _run(ws: Workspace, toml: Path, *extra: str) -> list:
    return ["run", str(toml), "--runs-dir", str(ws.runs), "--results", str(ws.results), "-q", *extra]


def _bad_header(ws: Workspace) -> list:
    ws.results.write_text(ws.results.read_text().replace("frames", "n_frames", 1))
    return _run(ws, ws.tiny())


def _header_carriage_return(ws: Workspace) -> list:
    ws.results.write_bytes(ws.results.read_bytes().replace(b"run_id,time,", b"run_id,ti\rme,", 1))
    return _run(ws, ws.tiny())


def _torn_last_row(ws: Workspace) -> list:
    """The earlier run's second row, given a config, cut inside its quoted JSON as a crash mid-write leaves it."""
    rows = ws.results.read_bytes().split(b"\n")
    assert rows[2].endswith(b",") and rows[3] == b""  # the config column (last) is empty
    ws.results.write_bytes(b"\n".join(rows[:2]) + b"\n" + rows[2] + b'"{""backbone"": {""na')
    return _run(ws, ws.tiny())


def _root_missing(ws: Workspace) -> list:
    root, lists = ucf_tree(ws.root / "tree")
    return _run(ws, ucf_experiment(ws, ws.root / "no-such-folder", lists))


def _listed_missing(ws: Workspace) -> list:
    root, lists = ucf_tree(ws.root / "tree")
    (root / "SoccerJuggling" / "v_SoccerJuggling_g24_c01.avi").unlink()
    return _run(ws, ucf_experiment(ws, root, lists))


def _escaping_path(ws: Workspace) -> list:
    root, lists = ucf_tree(ws.root / "tree")
    with (lists / "trainlist01.txt").open("ab") as handle:
        handle.write(b"../outside/v_Archery_g05_c01.avi 3\r\n")
    return _run(ws, ucf_experiment(ws, root, lists))


def _sweep_bad_point(ws: Workspace) -> list:
    return _run(ws, ws.tiny(extra='[sweep]\n"loss.margin" = [4, -1]\n'))


def _hook_raises(ws: Workspace) -> list:
    ws.env["HASHBENCH_FAULTS_SIGNAL"] = "RAISE:1"
    return _run(ws, ws.tiny(backbone=faulty("backbone", "ok")))


CASES = {
    # input: nothing is created
    "toml-syntax": Case(lambda ws: _run(ws, ws.toml("seed = = 3\n")), r"exp\.toml:1:\d+: TOML syntax error"),
    "unknown-top-level-key": Case(lambda ws: _run(ws, ws.tiny(extra="")) + ["--set", "epoch=3"],
                                  r"unknown top-level key epoch \(did you mean 'seed'\?\)|unknown top-level key epoch"),
    "unknown-plugin": Case(lambda ws: _run(ws, ws.tiny(loss='name = "batch_all_tripet"')),
                           r"unknown loss 'batch_all_tripet' \(did you mean 'batch_all_triplet'\?\)"),
    "unknown-plugin-key": Case(lambda ws: _run(ws, ws.tiny(loss='name = "batch_all_triplet"\nmargn = 3')),
                               r"loss\.margn: unknown key \(did you mean 'margin'\?\); allowed keys: margin, weighting$"),
    "context-key-in-table": Case(lambda ws: _run(ws, ws.tiny(backbone='name = "r3d18"\nwidth = 8\nnum_frames = 8')),
                                 r"backbone\.num_frames: set by hashbench from dataset\.num_frames, not a key of"
                                 r" \[backbone\]; remove it \(allowed keys: [a-z0-9_, ]*\bnormalization, pretrained, shortcut"),
    "wrong-type": Case(lambda ws: _run(ws, ws.tiny(), "--set", 'train.epochs="two"'),
                       r"train\.epochs: expected an integer, got 'two'"),
    "unset-missing-key": Case(lambda ws: _run(ws, ws.tiny(), "--unset", "backbone.pretrained"),
                              r"--unset backbone\.pretrained: the experiment has no key backbone\.pretrained"),
    "sweep-bad-second-point": Case(_sweep_bad_point, r"loss\.margin: must be a number > 0.*sweep point"
                                   r" tiny@margin=-1"),
    "bad-results-header": Case(_bad_header, r"results\.csv: line 1: the header does not match"),
    "results-header-carriage-return": Case(_header_carriage_return, r"results\.csv: line 1: the header is damaged"
                                           r" \(a carriage return inside a column name"),
    "results-torn-last-row": Case(_torn_last_row, r"results\.csv: line 3: the last row is torn .* no rows are added"
                                  r" after it\. Drop that line, keeping lines 1-2: `truncate -s \d+ "),
    "batch-size-one": Case(lambda ws: _run(ws, ws.tiny(batch_size=1)), r"train\.batch_size: must be >= 2"),
    # data: checked before the run directory exists
    "dataset-root-missing": Case(_root_missing, r"dataset\.root: .*no-such-folder is not a folder; .*"
                                 r"`hashbench data check DATASET --root FOLDER` .*`hashbench data prepare"),
    "listed-video-missing": Case(_listed_missing, r"ucf101 train: 1 of 4 listed videos are unusable:"
                                 r" SoccerJuggling/v_SoccerJuggling_g24_c01\.avi .*missing"),
    "list-path-escapes-root": Case(_escaping_path, r"ucf101 train: 1 of 5 listed videos are unusable:"
                                   r" \.\./outside/v_Archery_g05_c01\.avi .*outside"),
    # plugins breaking the contract: caught before the run directory exists
    "factory-raises": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "factory_error"))),
                           r"backbone 'faulty_backbone' \(hashbench-faults 0\.1\.0\) failed to build from"
                           r" \[backbone\]: RuntimeError: simulated failure"),
    "factory-oserror": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "factory_oserror"))),
                            r"backbone 'faulty_backbone' \(hashbench-faults 0\.1\.0\) failed to build.*"
                            r"FileNotFoundError"),
    "no-feature-dim": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "no_feature_dim"))),
                           r"backbone 'faulty_backbone' \(hashbench-faults 0\.1\.0\) does not expose a positive"
                           r" int `feature_dim`"),
    "backbone-not-a-module": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "not_module"))),
                                  r"backbone 'faulty_backbone' \(hashbench-faults 0\.1\.0\) built 'object', not a torch\.nn\.Module"),
    "backbone-wrong-width": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "wrong_width"))),
                                 r"backbone 'faulty_backbone' \(hashbench-faults 0\.1\.0\) returned \(2, 16\) for 2"
                                 r" clips; the contract is \(B, feature_dim\) = \(2, 8\)"),
    "head-wrong-shape": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "ok"),
                                                         head=faulty("head", "wrong_shape"))),
                             r"head 'faulty_head' .* returned \(2, 17\) .* \(B, bits\) = \(2, 16\)"),
    "loss-not-scalar": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "ok"),
                                                        loss=faulty("loss", "not_scalar"))),
                            r"loss 'faulty_loss' .* returned \(2,\); the contract is a scalar tensor"),
    "forward-raises": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "raise_forward"))),
                           r"backbone 'faulty_backbone' \(hashbench-faults 0\.1\.0\) raised in forward:"
                           r" RuntimeError: simulated failure in the backbone's forward"),
    # failures during training: the run directory says failed, nothing is appended
    "nan-loss": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "ok"), loss=faulty("loss", "nan", 2))),
                     r"the loss became nan at epoch 1, step 2: lower train\.optimizer\.lr, set train\.grad_clip",
                     status="failed", error_epoch=1),
    "inf-loss": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "ok"), loss=faulty("loss", "inf", 1))),
                     r"the loss became inf at epoch 1, step 1", status="failed", error_epoch=1),
    "loss-raises-in-training": Case(
        lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "ok"), loss=faulty("loss", "raise_forward", 2))),
        r"loss 'faulty_loss' \(hashbench-faults 0\.1\.0\) raised at epoch 1, step 2 \(training\): KeyError",
        status="failed", error_epoch=1),
    "cuda-out-of-memory": Case(lambda ws: _run(ws, ws.tiny(backbone=faulty("backbone", "oom"))),
                               r"out of GPU memory at epoch 1, step 1 \(training\) \(train\.batch_size = 16\):"
                               r" lower train\.batch_size", status="failed", error_epoch=1),
    "lifecycle-hook-raises": Case(_hook_raises, r"plugin 'faults' \(hashbench-faults 0\.1\.0\) raised at epoch 1"
                                  r" \(running the epoch-end hooks\): RuntimeError: simulated failure in a"
                                  r" lifecycle hook", status="failed", error_epoch=1),
}
if torch.cuda.is_available():  # pragma: no cover - the GPU machine
    CASES["cuda-requested-without-gpu"] = None
else:
    CASES["cuda-requested-without-gpu"] = Case(lambda ws: _run(ws, ws.tiny(), "--set", 'device="cuda"'),
                                               r"device: 'cuda' requested but CUDA is not available")


def check_one_line(proc: subprocess.CompletedProcess, pattern: str) -> str:
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def new_rows(ws: Workspace, before: bytes) -> list:
    table = read_results(ws.results)
    return [r for r in table.to_dict("records") if r["run_id"] != "earlier-run"] if ws.results.read_bytes() != before else []


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c is not None])
def test_fault_matrix(name, ws):
    case = CASES[name]
    args = case.setup(ws)
    before = ws.results.read_bytes()
    proc = ws.run(*args)
    assert proc.returncode == case.exit_code, proc.stdout + proc.stderr
    line = check_one_line(proc, case.message)
    assert line.startswith("error: ")
    records = ws.records()
    if case.status is None:
        assert records == [], f"a failure before training left run directories: {ws.run_dirs()}"
    else:
        (record,) = records
        assert record["status"] == case.status
        assert record["error"]["epoch"] == case.error_epoch and record["error"]["time"]
        assert re.search(case.message, record["error"]["message"])
        assert "recorded as failed" in line and str(ws.run_dirs()[0]) in line
    if case.table == "same" and name != "bad-results-header":
        assert ws.results.read_bytes() == before
    elif name == "bad-results-header":
        assert ws.results.read_bytes() == before  # a table with a bad header is never touched


# -- cases that need more than one command ----------------------------------------------------------------
def test_last_training_batch_of_one_clip_is_dropped_and_said(ws):
    # 8 classes x 4 clips = 32 training clips; batch 31 leaves a last batch of 1 (BatchNorm cannot train on it)
    before = ws.results.read_bytes()
    proc = ws.hashbench_run(ws.tiny(batch_size=31))
    assert proc.returncode == 0, proc.stderr
    assert "drops its last training batch of 1 clip (32 clips, batch_size 31)" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    (record,) = ws.records()
    assert record["status"] == "finished"
    assert len(new_rows(ws, before)) == 2 and ws.results.read_bytes().startswith(before)


def test_no_record_leaves_the_table_alone(ws):
    before = ws.results.read_bytes()
    proc = ws.hashbench_run(ws.tiny(), "--no-record")
    assert proc.returncode == 0, proc.stderr
    assert "results table not touched (--no-record)" in proc.stdout
    assert ws.results.read_bytes() == before and [r["status"] for r in ws.records()] == ["finished"]


def test_switching_a_plugin_by_name_drops_the_old_plugins_keys(ws):
    toml = ws.tiny(loss='name = "batch_all_triplet"\nmargin = 4\nweighting = "uniform"')
    proc = ws.run("validate", str(toml), "--set", "loss.name=faulty_loss", "--set", 'loss.mode="ok"')
    assert proc.returncode == 0, proc.stderr
    assert "loss: faulty_loss = " in proc.stdout


def test_missing_skip_also_skips_videos_that_cannot_be_decoded_on_demand(ws):
    root, lists = ucf_tree(ws.root / "tree")
    add_bad_files(root, lists)  # empty, truncated, text-as-avi, missing and escaping entries
    before = ws.results.read_bytes()
    proc = ws.hashbench_run(ucf_experiment(ws, root, lists, extra='missing = "skip"'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (row, *_) = new_rows(ws, before)
    assert row["skipped"] == 5 and row["data_origin"] == "custom"
    record = ws.records()[0]
    assert record["status"] == "finished" and record["dataset_info"]["clips"].startswith("train=4 ")


def _start(ws: Workspace, toml: Path, env: Optional[dict] = None) -> subprocess.Popen:
    full = dict(os.environ, COLUMNS="200", NO_COLOR="1", PYTHONUNBUFFERED="1", **ws.env, **(env or {}))
    full.pop("HASHBENCH_RESULTS", None)
    return subprocess.Popen([*HASHBENCH, "run", str(toml), "--runs-dir", str(ws.runs), "--results", str(ws.results),
                             "-q"], cwd=ws.root, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """The child starts with SIGINT's default disposition (Python then turns it into KeyboardInterrupt), as
    from a terminal, even when this test session inherited it ignored (a suite launched in the background)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_says_how_to_resume_and_resume_finishes_it_once(ws, how):
    toml = ws.tiny(epochs=4)
    before = ws.results.read_bytes()
    if how == "SIGINT":  # from outside, while the run trains (after epoch 1's evaluation line)
        proc = _start(ws, toml)
        for line in proc.stdout:
            if line.startswith("epoch 1 test:"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
        returncode = proc.returncode
    else:  # a scheduler's SIGTERM, delivered at the end of epoch 2
        done = ws.run(*_run(ws, toml), env={"HASHBENCH_FAULTS_SIGNAL": "SIGTERM:2"})
        returncode, err, out = done.returncode, done.stderr, done.stdout
    assert returncode == 130, out + err
    assert "Traceback" not in out + err
    (line,) = [x for x in err.splitlines() if x.strip()]
    match = re.fullmatch(r"interrupted in epoch (\d); resume with: hashbench run (\S+) --runs-dir (\S+) --results"
                         r" (\S+) --resume", line)
    assert match, line
    (record,) = ws.records()
    assert record["status"] == "interrupted" and record["interrupted"]["signal"] == how
    assert record["interrupted"]["epoch"] == int(match[1])
    assert ws.results.read_bytes() == before
    resumed = ws.run(*_run(ws, toml, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed run {ws.run_dirs()[0].name} from epoch" in resumed.stdout
    assert [r["status"] for r in ws.records()] == ["finished"]
    assert len(new_rows(ws, before)) == 2


def test_resume_after_a_crash_between_append_and_record_appends_nothing_again(ws):
    toml = ws.tiny(epochs=2)
    before = ws.results.read_bytes()
    kept = ws.root / "kept"
    kept.mkdir()
    assert ws.hashbench_run(toml, env={"HASHBENCH_FAULTS_KEEP": str(kept)}).returncode == 0
    (run,) = ws.run_dirs()
    appended = ws.results.read_bytes()
    assert len(new_rows(ws, before)) == 2
    # the state a crash right after the append leaves: record not finished, last checkpoint present
    record = json.loads((run / "record.json").read_text())
    record["status"] = "running"
    (run / "record.json").write_text(json.dumps(record))
    shutil.copyfile(kept / "checkpoint.pt", run / "checkpoint.pt")
    proc = ws.hashbench_run(toml, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert f"rows of run {run.name} were already in" in proc.stdout
    assert ws.results.read_bytes() == appended
    assert [r["status"] for r in ws.records()] == ["finished"]


def test_resume_with_a_checkpoint_that_does_not_fit_lists_the_keys_and_marks_the_run_failed(ws):
    toml = ws.tiny(epochs=3)
    proc = ws.run(*_run(ws, toml), env={"HASHBENCH_FAULTS_SIGNAL": "SIGTERM:1"})
    assert proc.returncode == 130
    (run,) = ws.run_dirs()
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    del state["model"]["head.hashcoder.0.bias"]
    state["model"]["head.extra"] = torch.zeros(1)
    torch.save(state, run / "checkpoint.pt")
    before = ws.results.read_bytes()
    resumed = ws.run(*_run(ws, toml, "--resume"))
    assert resumed.returncode == 2
    line = check_one_line(resumed, r"checkpoint\.pt \(model\): does not fit this model; missing keys \(1\):"
                                   r" head\.hashcoder\.0\.bias; unexpected keys \(1\): head\.extra")
    assert "recorded as failed" in line
    (record,) = ws.records()
    assert record["status"] == "failed" and "missing keys (1)" in record["error"]["message"]
    assert ws.results.read_bytes() == before


# -- a full disk: a real small filesystem (tmpfs) where this process may mount one ----------------------------
def _mount_tmpfs(folder: Path, size_kb: int) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    return proc.returncode == 0


SHORT_WRITE_SHIM = '''
"""Fake a full disk under {folder}: os.write writes half, then raises ENOSPC; torch.save raises ENOSPC."""
import errno, os
_FOLDER = {folder!r}
_write = os.write
def _target(fd):
    try:
        return os.readlink(f"/proc/self/fd/{{fd}}")
    except OSError:
        return ""
def write(fd, data):
    if _target(fd).startswith(_FOLDER) and len(data) > 1:
        _write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return _write(fd, data)
os.write = write
try:
    import torch
    _save = torch.save
    def save(obj, f, *args, **kwargs):
        if str(getattr(f, "name", None) or getattr(getattr(f, "handle", None), "name", "") or f).startswith(_FOLDER):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))
        return _save(obj, f, *args, **kwargs)
    torch.save = save
except ImportError:
    pass
'''


@pytest.fixture
def full_disk(tmp_path):
    """``make(size_kb, fill_kb) -> (folder, env)``: a folder on a real tmpfs of that size, ``fill_kb`` of it
    used, or (where mounting is not allowed) a folder whose writes are cut short by a sitecustomize shim."""
    mounted: list[Path] = []

    def make(size_kb: int, fill_kb: int = 0) -> tuple[Path, dict]:
        folder = tmp_path / f"disk{len(mounted)}"
        if _mount_tmpfs(folder, size_kb):
            mounted.append(folder)
            if fill_kb:
                (folder / "filler").write_bytes(b"\0" * (fill_kb * 1024))
            return folder, {}
        shim = tmp_path / f"shim{len(mounted)}"
        shim.mkdir()
        (shim / "sitecustomize.py").write_text(SHORT_WRITE_SHIM.format(folder=str(folder)))
        mounted.append(Path())
        return folder, {"PYTHONPATH_PREFIX": str(shim)}

    yield make
    for folder in mounted:
        if folder != Path():
            subprocess.run(["umount", str(folder)], capture_output=True)


def _with_prefix(ws: Workspace, env: dict) -> dict:
    prefix = env.pop("PYTHONPATH_PREFIX", None)
    if prefix:
        env["PYTHONPATH"] = os.pathsep.join([prefix, ws.env["PYTHONPATH"]])
    return env


def test_full_disk_under_the_runs_dir_names_the_path_and_marks_the_run_failed(ws, full_disk):
    disk, env = full_disk(size_kb=512)  # config/record fit; a checkpoint (several MB) does not
    before = ws.results.read_bytes()
    proc = ws.run("run", str(ws.tiny()), "--runs-dir", str(disk), "--results", str(ws.results), "-q",
                  env=_with_prefix(ws, env))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = check_one_line(proc, rf"{re.escape(str(disk))}/tiny/\S+/checkpoint\.pt: No space left on device while"
                                r" writing a checkpoint; free some space or point --runs-dir / --results at"
                                r" another disk")
    (record_path,) = disk.glob("*/*/record.json")
    record = json.loads(record_path.read_text())
    assert record["status"] == "failed" and "No space left on device" in record["error"]["message"]
    assert "recorded as failed" in line
    assert ws.results.read_bytes() == before
    assert not list(disk.glob("*/*/.checkpoint.pt.*.tmp")), "the half-written checkpoint was not removed"


def _fill(folder: Path) -> None:
    """Write a filler file until the file system is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096) > 0:
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_full_disk_under_the_results_table_leaves_it_parseable_and_unchanged(ws, full_disk):
    disk, env = full_disk(size_kb=256)
    table = disk / "results.csv"
    shutil.copyfile(ws.results, table)
    # pad the table with one more earlier row so that its last 4 KB page has about 100 bytes free,
    # then fill the disk: the run's rows (a few KB) start on that page and hit ENOSPC part way
    size = table.stat().st_size
    pad = {**read_results(ws.results).drop(columns="_line").to_dict("records")[0], "run_id": "pad", "method": ""}
    pad = {k: ("" if isinstance(v, float) and v != v else v) for k, v in pad.items()}
    probe = len("\n".join(f"{v}" for v in pad.values())) + 40
    pad["method"] = "p" * max(1, (4000 - size - probe) % 4096)
    append_rows(table, metric_rows({k: v for k, v in pad.items() if k not in ("metric", "value")}, {"map": 0.1}))
    if not env:
        _fill(disk)
    before = table.read_bytes()
    proc = ws.run("run", str(ws.tiny()), "--runs-dir", str(ws.runs), "--results", str(table), "-q",
                  env=_with_prefix(ws, env))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    check_one_line(proc, rf"cannot append to results table {re.escape(str(table))}: No space left on device; the"
                         r" table is unchanged")
    assert table.read_bytes() == before
    assert len(read_results(table)) == 3  # still parseable: the earlier rows and the pad row
    (record,) = ws.records()
    assert record["status"] == "failed" and record["error"]["phase"] == "recording the results"


def test_runs_lists_finished_and_failed_runs_with_filters(ws):
    assert ws.hashbench_run(ws.tiny(name="good")).returncode == 0
    bad = ws.tiny(name="bad", backbone=faulty("backbone", "ok"), loss=faulty("loss", "nan", 1))
    assert ws.hashbench_run(bad).returncode == 2
    proc = ws.run("runs", "--runs-dir", str(ws.runs), "--json")
    assert proc.returncode == 0, proc.stderr
    runs = {r["experiment"]: r for r in json.loads(proc.stdout)}
    assert runs["good"]["status"] == "finished" and runs["good"]["epoch"] == 1 and runs["good"]["epochs"] == 1
    assert runs["good"]["metric"] == "map" and 0 <= runs["good"]["value"] <= 1
    assert runs["bad"]["status"] == "failed" and "the loss became nan" in runs["bad"]["message"]
    assert Path(runs["bad"]["path"]).parent.name == "bad"
    failed = json.loads(ws.run("runs", "--runs-dir", str(ws.runs), "--status", "failed", "--json").stdout)
    assert [r["experiment"] for r in failed] == ["bad"]
    table = ws.run("runs", "--runs-dir", str(ws.runs), "-e", "goo")
    assert "finished" in table.stdout and "failed" not in table.stdout
    wrong = ws.run("runs", "--runs-dir", str(ws.runs), "--status", "done")
    assert wrong.returncode == 2 and "choose one of running, finished, failed, interrupted" in wrong.stderr
