"""corestore driver for any WebDAV server, built on webdav4's HTTP client.

Registered through the ``corestore`` entry point::

    [project.entry-points.corestore]
    webdav = "corestore_webdav"

webdav4 and httpx are imported only when a mount is opened, so listing drivers stays cheap.
"""

from __future__ import annotations

from corestore import hookimpl
from corestore_webdav.driver import WebdavDriver
from corestore_webdav.options import WebdavOptions

__all__ = ["WebdavDriver", "WebdavOptions"]


@hookimpl
def corestore_register_drivers(registry) -> None:  # noqa: ANN001 - pluggy passes the registry
    registry.add(WebdavDriver)
