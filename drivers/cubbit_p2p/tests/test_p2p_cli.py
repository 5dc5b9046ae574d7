"""``corestore swarm up`` starts a working demo swarm as separate processes and stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from corestore_cubbit_p2p.localswarm import free_port_block
from p2p_files_client import download, upload


def test_swarm_up_runs_a_usable_swarm(tmp_path):
    port = free_port_block(7)
    proc = subprocess.Popen(
        [sys.executable, "-m", "corestore.cli", "swarm", "up", "--nodes", "6",
         "--dir", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/status", timeout=2) as resp:
                    if sum(n["state"] == "alive" for n in json.load(resp)["nodes"]) == 6:
                        break
            except OSError:
                pass
            time.sleep(0.3)
        data = os.urandom(3 << 20)
        answer = upload(url, data)
        assert answer["state"] == "active"
        assert download(url, answer["file_id"], answer["key"]) == data
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, out
    assert "swarm up" in out
    assert len(list(tmp_path.glob("node*/shards/*/*"))) == 6
