"""Real servers for the owncloud driver's tests.

* ``wsgidav`` serving a folder laid out as ``remote.php/dav/files/<user>/``: a WebDAV server with
  none of the dialect (no OCS, no oc:fileid), so the driver must fall back and narrow.
* ``corestore serve`` (:mod:`corestore.launch`), whose WebDAV front end speaks the
  ownCloud dialect at ``/remote.php/dav/files/<user>/``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from corestore_webdav.servers import WebdavServer, start_wsgidav

USER, PASSWORD = "alice", "wonderland"


@pytest.fixture(scope="session")
def wsgidav_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebdavServer]:
    base = tmp_path_factory.mktemp("oc-wsgidav")
    (base / "data" / "remote.php" / "dav" / "files" / USER).mkdir(parents=True)
    with start_wsgidav(base / "data", base / "run", username=USER, password=PASSWORD) as server:
        yield server
