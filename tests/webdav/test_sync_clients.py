"""The Nextcloud / ownCloud desktop sync engine, headless, against the ownCloud dialect.

``nextcloudcmd`` (Debian ``nextcloud-desktop-cmd``) or ``owncloudcmd`` (``owncloud-client-cmd``)
syncs a local folder up, a second run uploads nothing, and a fresh folder syncs back down with
the same bytes. Each test skips, naming the package, when its binary is absent.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from corestore.launch import ServerProcess

# Small files go up in one streamed PUT each; one file above the 10 MB chunk size exercises the
# ownCloud v1 chunked upload.
SIZES = (0, 5, 4096, 300_000, 2_500_000)
CLIENT_FILES = (".sync_", ".nextcloudsync.log", ".owncloudsync.log", "._sync_", ".csync_journal")


def _user_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(CLIENT_FILES)
    }


def _sync(binary: str, local: Path, url: str, user: str, password: str, home: Path) -> str:
    env = {
        **os.environ,
        "HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local"),
    }
    # Debian's owncloudcmd ships no system exclude list and aborts without one: give it one.
    excludes = home / "sync-exclude.lst"
    excludes.touch()
    proc = subprocess.run(
        [
            binary,
            "--non-interactive",
            "--exclude",
            str(excludes),
            "-u",
            user,
            "-p",
            password,
            str(local),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


@pytest.mark.parametrize(
    "client, user, password",
    [
        ("nextcloudcmd", "marie", "radioactivity"),
        ("owncloudcmd", "richard", "superfluidity"),
    ],
)
def test_sync_up_twice_and_down(
    dav_server: ServerProcess,
    require_binary: Callable[[str], str],
    tmp_path: Path,
    client: str,
    user: str,
    password: str,
) -> None:
    binary = require_binary(client)
    rng = random.Random(7)
    local, down = tmp_path / "local", tmp_path / "down"
    for i in range(12):
        folder = local / ("" if i % 3 == 0 else f"folder {i % 3}") / ("deep" if i % 4 == 1 else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"note {i}.txt").write_bytes(rng.randbytes(SIZES[i % len(SIZES)]))
    # Bigger than the 10 MB chunk size: the clients upload it in ownCloud v1 chunks.
    (local / "folder 1" / "large.bin").write_bytes(rng.randbytes(12_500_000))
    down.mkdir()

    first = _sync(binary, local, dav_server.http_url, user, password, tmp_path)
    # 13 files; Nextcloud sends the large one in 2 chunks, ownCloud (bigfilechunking off) in one.
    assert first.count("PUT of") in (13, 14), first[-5000:]
    second = _sync(binary, local, dav_server.http_url, user, password, tmp_path)
    assert "PUT of" not in second, second[-5000:]

    _sync(binary, down, dav_server.http_url, user, password, tmp_path)
    assert _user_files(down) == _user_files(local)
