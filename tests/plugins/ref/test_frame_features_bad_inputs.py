"""Bad frame-feature inputs through the real CLI (``hashbench validate`` / ``run`` subprocesses): each is
one clear line on stderr naming the file, key or value and what to do, exit code 2, no traceback.

Cases: a missing file, a missing feature key, a mismatched label key, a missing required key in the
table, a shard with a different D, a query split with a different D, labels with the wrong row count,
NaN features in a sampled row (found when the dataset opens) and in a row the sample skips (found by the
fit's streaming pass in ``hashbench run``; a ``training`` test)."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from support import run_cli

from hashbench_ref.datasets.moving_digits_features import generate_features, write_fcvid_layout

SMALL = dict(num_frames=4, feature_dim=8, size=16, clips_per_class=3, queries_per_class=2)


def toml(dataset: dict) -> str:
    lines = ["name = \"bad\"", "seed = 0", "device = \"cpu\"", "", "[dataset]", "name = \"frame_features\""]
    for key, value in dataset.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines + ["", "[method]", "name = \"pcah\"", "bits = 4", "", "[eval]",
                              "metrics = [\"map\"]", ""])


@pytest.fixture
def layout(tmp_path: Path) -> dict:
    """FCVID's layout (train 24 rows, test 16 rows, 4 x 8 features, .mat labels) with relative paths."""
    table = write_fcvid_layout(tmp_path, generate_features(**SMALL))
    return {k: Path(v).name for k, v in table.items() if k != "name"}


def write_h5(path: Path, array: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f["feats"] = array


def set_nan(path: Path, row: int) -> None:
    with h5py.File(path, "r+") as f:
        f["feats"][row, 1, 2] = np.nan


def case(tmp_path: Path, layout: dict, name: str) -> tuple[dict, str]:
    """Damage the layout as ``name`` says; ``(the [dataset] table, the text the line must contain)``."""
    table = dict(layout)
    if name == "missing_file":
        table["train"] = "nowhere.h5"
        return table, "nowhere.h5: feature file not found"
    if name == "missing_feature_key":
        table["feature_key"] = "vgg"
        return table, "no dataset 'vgg' in the feature file (keys present: feats); set feature_key"
    if name == "mismatched_label_key":
        table["query_label_key"] = "q_label"
        return table, "no key 'q_label' in the label file (keys present: labels); set the split's label key"
    if name == "missing_table_key":
        del table["database"]
        return table, "dataset: missing required key 'database'"
    if name == "shard_other_dim":
        write_h5(tmp_path / "shard2.h5", np.zeros((5, 4, 6), np.float32))
        table["train"] = [layout["train"], "shard2.h5"]
        return table, "shard has 4 frames x 6 dims but"
    if name == "query_other_dim":
        write_h5(tmp_path / "query6.h5", np.zeros((16, 4, 6), np.float32))
        table["query"] = "query6.h5"
        return table, "query features are 4 x 6 but train features are 4 x 8"
    if name == "label_rows":
        np.save(tmp_path / "short.npy", np.arange(15) % 8)
        table["query_labels"] = "short.npy"
        return table, "short.npy: 15 label rows for 24 feature rows; the label file must have one row per video"
    if name == "nan_sampled_row":
        set_nan(tmp_path / layout["train"], 0)
        return table, "row 0 holds NaN or inf features"
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["missing_file", "missing_feature_key", "mismatched_label_key", "missing_table_key",
                                  "shard_other_dim", "query_other_dim", "label_rows", "nan_sampled_row"])
def test_validate_says_one_line(tmp_path: Path, layout: dict, name: str) -> None:
    table, expected = case(tmp_path, layout, name)
    (tmp_path / "bad.toml").write_text(toml({**table, "root": str(tmp_path)}))
    proc = run_cli("validate", "bad.toml", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert expected in lines[0], lines[0]


@pytest.mark.training
def test_nan_in_a_row_the_open_does_not_sample_stops_the_run_with_one_line(tmp_path: Path, layout: dict) -> None:
    set_nan(tmp_path / layout["train"], 5)  # rows 0, 8, 15, 23 are sampled when the dataset opens
    (tmp_path / "bad.toml").write_text(toml({**layout, "root": str(tmp_path)}))
    assert run_cli("validate", "bad.toml", cwd=tmp_path).returncode == 0  # the cheap check passes ...
    proc = run_cli("run", "bad.toml", "--runs-dir", "runs", "--results", "results.csv", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "NaN" in lines[0], proc.stderr  # ... the fit's streaming pass does not
    assert not (tmp_path / "results.csv").exists()
