"""hashbench.train.checkpoint: atomic writes, a full disk told as such, strict loading with a key listing."""
from __future__ import annotations

import errno

import pytest
import torch

from hashbench.errors import CheckpointError, ResourceError
from hashbench.train.checkpoint import key_listing, load_checkpoint, load_state_strict, save_checkpoint


def test_save_and_load_round_trip_atomically(tmp_path):
    path = tmp_path / "sub" / "checkpoint.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}, "epoch": 3})
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no temporary file left
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], torch.ones(2))
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_a_full_disk_is_a_resource_error_and_the_old_file_stays(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 1})

    def no_space(obj, handle, *args, **kwargs):
        handle.write(b"x")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(ResourceError, match=r"checkpoint.pt: No space left on device while writing a checkpoint"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1


def test_strict_loading_lists_missing_unexpected_and_mis_shaped_keys():
    model = torch.nn.Linear(3, 2)
    load_state_strict(model, {k: v.clone() for k, v in model.state_dict().items()}, "ok")
    with pytest.raises(CheckpointError) as info:
        load_state_strict(model, {"weight": torch.zeros(5, 5), "extra": torch.zeros(1)}, "ckpt.pt (model)")
    assert str(info.value) == ("ckpt.pt (model): does not fit this model; missing keys (1): bias; unexpected keys (1):"
                               " extra; shape mismatches (1): weight (5, 5) vs model (2, 3)")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        load_state_strict(model, None, "x")
    assert key_listing("k", [str(i) for i in range(15)], limit=3) == "k (15): 0, 1, 2 ... and 12 more"
