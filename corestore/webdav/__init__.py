"""The WebDAV front end of ``corestore serve`` and its ownCloud dialect.

``add_webdav_routes`` mounts it on the server's aiohttp application, behind the one error
middleware that maps the error tree to HTTP statuses. See ``docs/webdav.md``.
"""

from __future__ import annotations

from aiohttp import web

from corestore.state import ServerState
from corestore.webdav import ocs
from corestore.webdav.handlers import DavHandler

__all__ = ["add_webdav_routes"]


def add_webdav_routes(app: web.Application, state: ServerState) -> None:
    handler = DavHandler(state)
    router = app.router
    router.add_route("*", "/remote.php/webdav{tail:.*}", handler, name="webdav_legacy")
    router.add_route("*", "/remote.php/dav/files/{user}{tail:.*}", handler, name="webdav_oc")
    router.add_route("*", "/dav/files/{user}{tail:.*}", handler, name="webdav")
    app.add_routes(ocs.routes(handler.auth))
