"""The one aiohttp middleware that turns errors into HTTP statuses, with request ids and metrics.

A :class:`~corestore.errors.CorestoreError` becomes ``exc.http_status`` with its plain message;
anything else becomes 500 with the request id, its traceback logged server-side only. Every
response carries ``X-Request-Id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import ClientPayloadError, web

from corestore.errors import CorestoreError
from corestore.logs import new_request_id
from corestore.metrics import Metrics, current_driver

__all__ = ["error_middleware"]

log = logging.getLogger("corestore.http")
access_log = logging.getLogger("corestore.access")

#: What reading a request body raises when the client hangs up or sends less than announced.
_CLIENT_GONE = (ConnectionError, ClientPayloadError)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _record(metrics: Metrics, operation: str, where: str, status: int, started: float) -> None:
    """Metrics and the access line of one request."""
    seconds = time.perf_counter() - started
    metrics.observe(operation, str(status), seconds, error=status >= 400)
    access_log.info(
        "%s",
        where,
        extra={"status": status, "driver": current_driver.get(), "ms": round(seconds * 1e3, 2)},
    )


def error_middleware(
    metrics: Metrics,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = new_request_id()
        current_driver.set("-")
        started = time.perf_counter()
        operation = getattr(request.match_info.route, "name", None) or "http_other"
        # Paths carry transfer tokens: log the route, never the path.
        where = f"{request.method} {operation}"
        try:
            response = await handler(request)
        except _CLIENT_GONE as exc:  # a cut connection is the client's doing, not a server error
            log.info("%s: the client went away (%s)", where, exc or type(exc).__name__)
            response = web.Response(status=400, text="connection lost\n")
        except web.HTTPException as exc:  # aiohttp's own (404 route, 405 method): keep them plain
            exc.headers["X-Request-Id"] = rid
            _record(metrics, operation, where, exc.status, started)
            raise
        except CorestoreError as exc:
            if type(exc) is CorestoreError:
                log.error("%s failed", where, exc_info=exc)
                response = web.Response(status=500, text=f"internal error (request id {rid})\n")
            else:
                log.info("%s: %s", where, exc.message, extra={"status": exc.http_status})
                response = web.Response(status=exc.http_status, text=exc.message + "\n")
        except Exception as exc:  # noqa: BLE001 - the one mapping point
            log.error("%s failed with an internal error", where, exc_info=exc)
            response = web.Response(status=500, text=f"internal error (request id {rid})\n")
        if not response.prepared:
            response.headers["X-Request-Id"] = rid
        _record(metrics, operation, where, response.status, started)
        return response

    return middleware
