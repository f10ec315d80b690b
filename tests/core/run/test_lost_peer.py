"""lost_local_peer: a rank stopped by the launcher after a peer died is told apart from an interruption that
reaches live ranks (Linux /proc: the live children of the launcher against LOCAL_WORLD_SIZE)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A launcher stand-in: starts two workers; worker 1 ends (and is reaped) or keeps running, then worker 0
# reports what lost_local_peer() says.
LAUNCHER = textwrap.dedent("""
    import subprocess, sys, time
    from pathlib import Path
    folder, peer_dies = Path(sys.argv[1]), sys.argv[2] == "dies"
    env = {"LOCAL_WORLD_SIZE": "2", "PATH": ""}
    sleeper = [sys.executable, "-c", "import time; time.sleep(0 if %r else 30)" % peer_dies]
    reporter = [sys.executable, "-c",
                "import sys, time; from pathlib import Path; "
                "[time.sleep(0.05) for _ in range(200) if not Path(sys.argv[1]).exists()]; "
                "from hashbench.run.ranks import lost_local_peer; print(lost_local_peer())", str(folder / "go")]
    rank0 = subprocess.Popen(reporter, stdout=subprocess.PIPE, text=True, env=dict(env, PYTHONPATH=sys.argv[3]))
    rank1 = subprocess.Popen(sleeper, env=env)
    if peer_dies:
        rank1.wait()          # reaped, as torchrun reaps a killed worker before it stops the others
    (folder / "go").touch()
    print(rank0.communicate()[0].strip())
    rank1.kill()
""")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lost_local_peer reads /proc (Linux)")
@pytest.mark.parametrize("peer, expected", [("dies", "True"), ("lives", "False")])
def test_a_dead_peer_is_seen_and_live_peers_are_not(tmp_path, peer, expected):
    import hashbench

    package_root = str(Path(hashbench.__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, str(tmp_path), peer, package_root],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == expected


def test_outside_a_launcher_nothing_is_lost(monkeypatch):
    from hashbench.run.ranks import lost_local_peer

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert lost_local_peer() is False
