"""rclone's webdav backend (vendor owncloud) copies a tree up, checks it, and syncs it back down."""

from __future__ import annotations

import filecmp
import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

from corestore.launch import ServerProcess

SIZES = (0, 1, 17, 4096, 65_535, 1 << 20, (3 << 20) + 7)


def make_tree(root: Path, files: int = 220) -> int:
    """``files`` files of mixed sizes in nested folders; returns the bytes written."""
    rng = random.Random(6)
    total = 0
    for i in range(files):
        folder = root / f"d{i % 7}" / (f"e{i % 3}" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        size = SIZES[i % len(SIZES)] if i % 5 else rng.randrange(0, 200_000)
        (folder / f"file {i} é.bin").write_bytes(rng.randbytes(size))
        total += size
    return total


def rclone(binary: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"rclone {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def trees_identical(left: Path, right: Path) -> list[str]:
    """Paths that differ in presence or bytes between two trees."""
    diff = []
    lfiles = {p.relative_to(left) for p in left.rglob("*") if p.is_file()}
    rfiles = {p.relative_to(right) for p in right.rglob("*") if p.is_file()}
    diff += [str(p) for p in lfiles ^ rfiles]
    diff += [str(p) for p in lfiles & rfiles if not filecmp.cmp(left / p, right / p, shallow=False)]
    return diff


def test_rclone_copy_check_sync(
    dav_server: ServerProcess, require_binary: Callable[[str], str], tmp_path: Path
) -> None:
    binary = require_binary("rclone")
    up, down = tmp_path / "up", tmp_path / "down"
    make_tree(up)
    obscured = subprocess.run(
        [binary, "obscure", "relativity"], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = {
        **os.environ,
        "RCLONE_CONFIG": str(tmp_path / "none.conf"),
        "RCLONE_CONFIG_X_TYPE": "webdav",
        "RCLONE_CONFIG_X_URL": f"{dav_server.http_url}/remote.php/dav/files/einstein/",
        "RCLONE_CONFIG_X_VENDOR": "owncloud",
        "RCLONE_CONFIG_X_USER": "einstein",
        "RCLONE_CONFIG_X_PASS": obscured,
    }

    rclone(binary, env, "copy", str(up), "X:rclone-tree", "--transfers", "8")
    check = rclone(binary, env, "check", str(up), "X:rclone-tree")
    assert "0 differences found" in check.stderr
    assert "220 matching files" in check.stderr
    # sha1 is what the owncloud vendor compares: the server computed it while the bytes streamed in.
    sums = rclone(binary, env, "sha1sum", "X:rclone-tree").stdout.splitlines()
    assert len(sums) == 220 and all(len(line.split()[0]) == 40 for line in sums)

    rclone(binary, env, "sync", "X:rclone-tree", str(down), "--transfers", "8")
    assert trees_identical(up, down) == []

    # A second copy moves nothing: sizes, mtimes and checksums all match.
    again = rclone(binary, env, "copy", str(up), "X:rclone-tree", "-v")
    assert "Transferred:" in again.stderr and "Copied" not in again.stderr
