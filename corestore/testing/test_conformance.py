"""The zero-code entry point: ``pytest --pyargs corestore.testing --corestore-driver NAME``."""

from __future__ import annotations

import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from corestore.driver import StorageDriver
from corestore.plugins import get_registry
from corestore.testing import DriverTests
from corestore.testing.plugin import large_size_option


def _substitute(value: Any, tmp: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{tmp}", str(tmp))
    if isinstance(value, list):
        return [_substitute(v, tmp) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, tmp) for k, v in value.items()}
    return value


class TestConformance(DriverTests):
    """The whole kit against the driver named by ``--corestore-driver``."""

    @pytest.fixture(autouse=True)
    def _large_size(self, request: pytest.FixtureRequest) -> None:
        self.large_file_size = large_size_option(request.config)

    @pytest_asyncio.fixture
    async def driver(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StorageDriver]:
        name = request.config.getoption("--corestore-driver")
        if not name:
            pytest.skip("no --corestore-driver given")
        config_file = request.config.getoption("--corestore-driver-config")
        raw: dict[str, Any] = {}
        if config_file:
            raw = tomllib.loads(Path(config_file).read_text())
        cls = get_registry().get(name)
        async with cls.from_config(_substitute(raw, tmp_path)) as driver:
            yield driver
