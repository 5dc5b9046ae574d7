"""The two mapping points on their own: unknown exceptions become internal errors with a request
id, and the error tree's codes pass through unchanged."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cs3.rpc.v1beta1 import code_pb2

from corestore.errors import ChecksumMismatch, CorestoreError, Locked, NotFound
from corestore.grpc.rpc import status_for
from corestore.http.middleware import error_middleware
from corestore.logs import new_request_id
from corestore.metrics import Metrics


def test_grpc_status_for_every_kind_of_exception() -> None:
    rid = new_request_id()
    status = status_for(NotFound("no such file: /home/x"), "Stat")
    assert (status.code, status.message, status.trace) == (
        code_pb2.CODE_NOT_FOUND,
        "no such file: /home/x",
        rid,
    )
    assert status_for(Locked(), "Delete").code == code_pb2.CODE_LOCKED
    assert status_for(ChecksumMismatch(), "X").code == code_pb2.CODE_INVALID_ARGUMENT
    for unexpected in (
        RuntimeError("secret internals"),
        CorestoreError("raw root error"),
        KeyError("k"),
    ):
        status = status_for(unexpected, "Stat")
        assert status.code == code_pb2.CODE_INTERNAL
        assert status.message == f"internal error (request id {rid})"


def test_http_middleware_maps_the_tree_and_hides_the_rest() -> None:
    async def not_found(request: web.Request) -> web.Response:
        raise NotFound("gone")

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    async def main() -> None:
        app = web.Application(middlewares=[error_middleware(Metrics())])
        app.add_routes([web.get("/nf", not_found), web.get("/crash", crash)])
        async with TestClient(TestServer(app)) as client:
            res = await client.get("/nf")
            assert res.status == 404 and await res.text() == "gone\n"
            res = await client.get("/crash")
            body = await res.text()
            assert res.status == 500 and "secret" not in body
            assert body == f"internal error (request id {res.headers['X-Request-Id']})\n"
            assert (await client.get("/nowhere")).status == 404

    asyncio.run(main())
