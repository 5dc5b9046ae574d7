"""Received shares through the WebDAV front end: ``/remote.php/dav/ocm-received/<user>/<path>``.

The front end (``corestore.webdav``) maps its URLs to homes; this maps one more URL form to the
``/ocm/<user>`` folder of received shares and otherwise reuses the front end's handler as is, so
PROPFIND, GET, PUT, MKCOL, DELETE, LOCK... behave exactly as on home files (access decided by the
storage service: only the recipient, and writes only on write shares).
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from corestore.errors import NotFound, Unauthenticated
from corestore.paths import split_path

__all__ = ["PREFIX", "routes"]

PREFIX = "/remote.php/dav/ocm-received/"


def _handler_class() -> type:
    from corestore.webdav import handlers
    from corestore.webdav.paths import DavLocation

    class ReceivedSharesDav(handlers.DavHandler):
        async def __call__(self, request: web.Request) -> web.StreamResponse:
            method = getattr(self, "do_" + request.method.lower(), None)
            if request.method == "OPTIONS" or method is None:
                return await super().__call__(request)
            try:
                user = await self.auth.user(request)
            except Unauthenticated as exc:
                return handlers.challenge(exc.message)
            username, _, tail = request.path[len(PREFIX) :].partition("/")
            if not username:
                raise NotFound("the URL names no user")
            site = self.state.ocm
            home = f"{site.options.mount_path.rstrip('/')}/{username}"
            loc = DavLocation(PREFIX + quote(username, safe=""), home, split_path("/" + tail))
            request[handlers._IF_STATE] = await self._evaluate_if(request, user, loc)
            return await method(request, user, loc)

    return ReceivedSharesDav


async def handle(request: web.Request) -> web.StreamResponse:
    handler = request.app.get("ocm_frontend")
    if handler is None:
        handler = _handler_class()(request.app["state"])
    return await handler(request)


def routes() -> list[web.AbstractRouteDef]:
    return [web.route("*", PREFIX + "{tail:.*}", handle, name="ocm_received_dav")]
