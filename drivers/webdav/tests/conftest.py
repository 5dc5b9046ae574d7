"""Real WebDAV servers for the webdav driver's tests: one wsgidav and one rclone per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corestore_webdav.servers import WebdavServer, start_rclone, start_wsgidav

USER, PASSWORD = "alice", "wonderland"


@pytest.fixture(scope="session")
def wsgidav_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebdavServer]:
    base = tmp_path_factory.mktemp("wsgidav")
    (base / "data").mkdir()
    with start_wsgidav(base / "data", base / "run", username=USER, password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="session")
def rclone_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebdavServer]:
    base = tmp_path_factory.mktemp("rclone")
    (base / "data").mkdir()
    with start_rclone(base / "data", base / "run", username=USER, password=PASSWORD) as server:
        yield server


@pytest.fixture(params=["wsgidav", "rclone"])
def server(request: pytest.FixtureRequest) -> WebdavServer:
    """Each server in turn, for tests that hold on both."""
    return request.getfixturevalue(f"{request.param}_server")


def files_under(root: Path) -> set[str]:
    """Every file and folder below ``root`` on disk, as relative paths (what the server holds)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
