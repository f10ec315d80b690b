"""``hashbench weights list|check|fetch`` through the real CLI: where files are looked for, a strict test
load of a file in torchvision's key layout (and a refused one naming its keys), a download from a local
``file://`` mirror (the code path a user with internet takes, without the internet) into the --dest
given, and garbage refused by the published digest, the hash prefix of a torch.hub name, or as a web page."""
from __future__ import annotations

import json

import pytest
import torch

from support import run_cli, run_cli_here, tiny_experiment_text
from hashbench.contract import Checkpoint
from hashbench.weights import fetch, sha256_of
from hashbench.errors import DataError

torchvision = pytest.importorskip("torchvision")


@pytest.fixture(scope="module")
def s3d_state():
    """torchvision's S3D classifier state dict (random init): the published files' key layout."""
    return torchvision.models.video.s3d(weights=None).state_dict()


def test_list_shows_every_known_checkpoint_and_where_it_is_found(tmp_path):
    env = {"HASHBENCH_WEIGHTS": str(tmp_path), "TORCH_HOME": str(tmp_path / "torch")}
    (tmp_path / "resnet-18-kinetics.pth").write_bytes(b"placeholder")
    proc = run_cli("weights", "list", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    hara = rows["resnet-18-kinetics"]
    assert hara["backbone"] == "r3d18" and hara["classes"] == 400 and hara["frames"] == 16 and hara["size"] == 112
    assert hara["mean"] == pytest.approx([114.7748, 107.7354, 99.475]) and hara["found"] == str(
        tmp_path / "resnet-18-kinetics.pth")
    assert rows["r3d50_K_200ep"]["classes"] == 700 and rows["r3d50_K_200ep"]["found"] == ""
    assert {"c3d_sports1m", "tv_s3d.kinetics400_v1", "tv_mvit_v2_s.kinetics400_v1"} <= set(rows)
    table = run_cli("weights", "list", "--backbone", "r3d50", env=env)
    assert table.returncode == 0 and "r3d50_KM_200ep" in table.stdout and "resnet-18" not in table.stdout
    assert str(tmp_path) in table.stdout  # the search path is named
    unknown = run_cli("weights", "list", "--backbone", "r3d19", env=env)
    assert unknown.returncode == 2 and "r3d18" in unknown.stderr and "Traceback" not in unknown.stderr


def test_check_loads_a_file_strictly_and_lists_the_keys_of_a_broken_one(tmp_path, s3d_state):
    good = tmp_path / "my_s3d.pth"
    torch.save(s3d_state, good)
    proc = run_cli("weights", "check", str(good), "--backbone", "tv_s3d")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: loads strictly into tv_s3d" in proc.stdout and "sha256" in proc.stdout
    broken = dict(s3d_state)
    broken["features.0.0.0.weights"] = broken.pop("features.0.0.0.weight")
    bad = tmp_path / "broken.pth"
    torch.save(broken, bad)
    proc = run_cli_here("weights", "check", str(bad), "--backbone", "tv_s3d")  # the good one ran as a subprocess
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout and "features.0.0.0.weight" in proc.stdout and "features.0.0.0.weights" in proc.stdout
    anonymous = run_cli_here("weights", "check", str(good))
    assert anonymous.returncode == 2 and "--backbone" in anonymous.stderr


def test_fetch_downloads_from_a_file_url_mirror(tmp_path):
    mirror, dest = tmp_path / "mirror", tmp_path / "dest"
    mirror.mkdir()
    payload = b"PK\x03\x04" + torch.randn(64).numpy().tobytes()  # a zip, as torch.save writes
    (mirror / "resnet-18-kinetics.pth").write_bytes(payload)
    proc = run_cli("weights", "fetch", "resnet-18-kinetics", "--mirror", mirror.as_uri(), "--dest", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert (dest / "resnet-18-kinetics.pth").read_bytes() == payload
    assert [p.name for p in dest.iterdir()] == ["resnet-18-kinetics.pth"]  # no partial file left
    unknown = run_cli("weights", "fetch", "resnet-18-kinetic", "--dest", str(dest))
    assert unknown.returncode == 2 and "did you mean" in unknown.stderr.lower()
    missing = run_cli("weights", "fetch", "r3d50_K_200ep", "--mirror", mirror.as_uri(), "--dest", str(dest))
    assert missing.returncode == 2 and "r3d50_K_200ep.pth" in missing.stderr and "Traceback" not in missing.stderr


def test_fetch_verifies_the_sha256_and_leaves_nothing_behind(tmp_path):
    mirror, dest = tmp_path / "mirror", tmp_path / "dest"
    mirror.mkdir()
    (mirror / "w.pth").write_bytes(b"not the published bytes")
    wrong = Checkpoint("w", "w.pth", url=None, sha256="0" * 64)
    with pytest.raises(DataError, match="sha256 is .* expected 0{64}.*; nothing was saved"):
        fetch(wrong, dest, mirror=mirror.as_uri())
    assert list(dest.iterdir()) == []
    import hashlib

    right = Checkpoint("w", "w.pth", sha256=hashlib.sha256(b"not the published bytes").hexdigest())
    seen = []
    path = fetch(right, dest, mirror=mirror.as_uri(), progress=lambda done, total: seen.append(done))
    assert path.read_bytes() == b"not the published bytes" and seen[-1] == len(b"not the published bytes")
    with pytest.raises(DataError, match="no download URL is known"):
        fetch(Checkpoint("x", "x.pth"), dest)


def test_fetch_refuses_a_file_whose_sha256_differs_from_the_prefix_in_its_published_name(tmp_path):
    """torchvision's r3d_18-b3b3357e.pth: a mirror serving other bytes under that name is refused, deleted,
    in one line; the same check passes a file whose sha256 does start with its name's prefix."""
    mirror, dest = tmp_path / "mirror", tmp_path / "dest"
    mirror.mkdir()
    garbage = mirror / "r3d_18-b3b3357e.pth"
    torch.save({"stem.0.weight": torch.zeros(1)}, garbage)  # a real torch file, not the published one
    assert not sha256_of(garbage).startswith("b3b3357e")
    proc = run_cli("weights", "fetch", "tv_r3d_18.kinetics400_v1", "--mirror", mirror.as_uri(), "--dest", str(dest))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "refused" in lines[0] and "says it starts with b3b3357e" in lines[0] and "nothing was saved" in lines[0]
    assert list(dest.iterdir()) == []  # neither the file nor a partial one
    check = run_cli("weights", "check", str(garbage), "--backbone", "tv_r3d_18")
    assert check.returncode == 1 and "DIFFERS" in check.stdout and "starts with b3b3357e" in check.stdout
    own = mirror / "own.pth"
    own.write_bytes(b"PK\x03\x04 my own weights")
    named = mirror / f"own-{sha256_of(own)[:8]}.pth"
    own.rename(named)
    assert fetch(Checkpoint("own", named.name), dest, mirror=mirror.as_uri()).read_bytes() == named.read_bytes()


def test_fetch_refuses_a_web_page_saved_instead_of_the_checkpoint(tmp_path):
    """Hara's files have no published digest; an HTML page (a "confirm download" page) is still refused."""
    mirror, dest = tmp_path / "mirror", tmp_path / "dest"
    mirror.mkdir()
    (mirror / "resnet-18-kinetics.pth").write_text("\n<!DOCTYPE html><html><body>Google Drive can't scan")
    proc = run_cli("weights", "fetch", "resnet-18-kinetics", "--mirror", mirror.as_uri(), "--dest", str(dest))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "web page" in proc.stderr and "resnet-18-kinetics" in proc.stderr
    assert list(dest.iterdir()) == []


def test_fetch_writes_to_the_dest_given_and_never_to_the_hub_cache(tmp_path):
    """--dest relative to the working directory, and with ~; torch's hub cache (TORCH_HOME) stays empty,
    and the output says how runs find the file by name."""
    mirror, home, torch_home = tmp_path / "mirror", tmp_path / "home", tmp_path / "torch"
    mirror.mkdir()
    (mirror / "resnet-18-kinetics.pth").write_bytes(b"PK\x03\x04 weights")
    env = {"HOME": str(home), "TORCH_HOME": str(torch_home), "HASHBENCH_WEIGHTS": ""}
    proc = run_cli("weights", "fetch", "resnet-18-kinetics", "--mirror", mirror.as_uri(), "--dest", "w",
                   cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "w" / "resnet-18-kinetics.pth").is_file()
    assert "HASHBENCH_WEIGHTS=" in proc.stdout and str(tmp_path / "w") in proc.stdout.replace("\n", "")
    proc = run_cli("weights", "fetch", "resnet-18-kinetics", "--mirror", mirror.as_uri(), "--dest", "~/weights",
                   cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (home / "weights" / "resnet-18-kinetics.pth").is_file()
    assert not torch_home.exists() and not (tmp_path / "~").exists()


@pytest.mark.training
def test_a_missing_weight_file_names_the_command_that_fetches_it(tmp_path):
    """A path to a known file that is not there, a name not yet fetched, an unknown file: each says the command
    (`hashbench weights fetch`) or the source that fixes it, in one line."""
    env = {"HASHBENCH_WEIGHTS": str(tmp_path), "TORCH_HOME": str(tmp_path / "torch")}
    toml = tmp_path / "exp.toml"
    fetch_r3d = "hashbench weights fetch tv_r3d_18.kinetics400_v1"
    for backbone, pretrained, hint in (("tv_r3d_18", str(tmp_path / "r3d_18-b3b3357e.pth"), f"{fetch_r3d} --dest"),
                                       ("tv_r3d_18", "tv_r3d_18.kinetics400_v1", fetch_r3d),
                                       ("r3d18", str(tmp_path / "resnet-18-kinetics.pth"),
                                        "get resnet-18-kinetics.pth"),
                                       ("r3d18", str(tmp_path / "mine.pth"), "hashbench weights fetch NAME")):
        toml.write_text(tiny_experiment_text(backbone=f'name = "{backbone}"\npretrained = "{pretrained}"'))
        proc = run_cli("run", str(toml), "--no-record", "-q", "--runs-dir", str(tmp_path / "runs"), env=env)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert hint in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
