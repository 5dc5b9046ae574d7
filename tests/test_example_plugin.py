"""The vendor path end to end: the example plugin, installed through its entry point, is
discovered by ``corestore drivers`` and passes the kit's required core."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest_asyncio

from corestore.driver import StorageDriver
from corestore.plugins import get_registry
from corestore.testing import DriverTests


def test_example_plugin_is_listed_by_the_cli() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "corestore.cli", "drivers", "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    drivers = {row["name"]: row for row in json.loads(out)}
    assert drivers["memory"]["version"] == "0.1.0"
    assert drivers["memory"]["capabilities"] == []
    assert drivers["memory"]["plugin"] == "memory"


class TestMemoryExampleConformance(DriverTests):
    """Required core only: every optional capability test skips, saying why."""

    large_file_size = 0  # it keeps files in memory by design

    @pytest_asyncio.fixture
    async def driver(self) -> AsyncIterator[StorageDriver]:
        async with get_registry().get("memory").from_config({}) as driver:
            yield driver
