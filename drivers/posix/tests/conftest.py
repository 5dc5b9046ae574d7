"""Shared fixtures of the posix driver's own tests (the kit has its own)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from corestore_posix import PosixDriver


@pytest_asyncio.fixture
async def driver(tmp_path: Path) -> AsyncIterator[PosixDriver]:
    async with PosixDriver.from_config({"root": str(tmp_path / "root")}) as opened:
        yield opened


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry below ``folder`` without following links: path -> kind and content hash."""
    found = {}
    for top, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(top, name)
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = "file:" + hashlib.sha1(path.read_bytes()).hexdigest()
    return found


def uploads(root: Path) -> list[str]:
    """What is left in the driver's temp folder (must be empty between operations)."""
    return sorted(os.listdir(root / ".corestore" / "uploads"))
