"""Real servers for the owncloud driver's tests.

* ``wsgidav`` serving a folder laid out as ``remote.php/dav/files/<user>/``: a WebDAV server with
  none of the dialect (no OCS, no oc:fileid), so the driver must fall back and narrow.
* ``corestore serve`` (the harness of ``tests/server``), whose WebDAV front end speaks the
  ownCloud dialect at ``/remote.php/dav/files/<user>/``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from corestore_webdav.servers import WebdavServer, start_wsgidav

USER, PASSWORD = "alice", "wonderland"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def wsgidav_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebdavServer]:
    base = tmp_path_factory.mktemp("oc-wsgidav")
    (base / "data" / "remote.php" / "dav" / "files" / USER).mkdir(parents=True)
    with start_wsgidav(base / "data", base / "run", username=USER, password=PASSWORD) as server:
        yield server


def server_harness() -> ModuleType:
    """``tests/server/conftest.py``, loaded by path (test modules cannot import it by name)."""
    spec = importlib.util.spec_from_file_location(
        "corestore_server_harness", REPO / "tests/server/conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
