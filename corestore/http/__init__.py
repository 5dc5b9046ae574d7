"""The HTTP side of the server: the data path (``simple``, ``tus``), ``/metrics``, ``/healthz``."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from corestore.http import socketbody, transfer, tus
from corestore.http.middleware import error_middleware
from corestore.state import ServerState

__all__ = ["build_http_app"]


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    state: ServerState = request.app["state"]
    body = generate_latest(state.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_http_app(state: ServerState) -> web.Application:
    # client_max_size only bounds bodies read whole (none here): uploads are streamed.
    app = web.Application(middlewares=[error_middleware(state.metrics)], client_max_size=1 << 20)
    app["state"] = state
    socketbody.enable(app)  # large uploads are read off the socket by a thread
    store = tus.TusStore(state.upload_dir)
    store.prepare()
    app["tus"] = store
    app.add_routes(
        [
            web.get("/healthz", healthz, name="healthz"),
            web.get("/metrics", metrics, name="metrics"),
            *transfer.routes(),
            *tus.routes(),
        ]
    )
    if state.ocm is not None:
        from corestore.ocm.handlers import routes as ocm_routes  # noqa: PLC0415 - only when enabled

        app.add_routes(ocm_routes())
    from corestore.webdav import add_webdav_routes  # noqa: PLC0415 - webdav imports corestore.http

    add_webdav_routes(app, state)
    return app
