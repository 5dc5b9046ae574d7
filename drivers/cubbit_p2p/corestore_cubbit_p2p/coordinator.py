"""The coordinator: node registry, placement, manifests, namespace, repair, and the /files API.

Control plane (HTTP + JSON; errors are ``{"error": <corestore error class>, "message"}`` with the
class's HTTP status, so clients re-raise the same class)::

    POST /nodes/register              node -> {node_id,url,zone,capacity,used,shards,inventory}
    POST /nodes/{id}/heartbeat        node -> {capacity,used,shards,deleted}; <- {delete: [...]}
    GET  /status                      nodes, files with their health, repair jobs
    POST /alloc                       {k,m,chunk_size,cipher[,ns]} -> {file_id,k_int,placements}
    POST /commit                      {manifest,stored[,ns]} -> state (and the namespace entry)
    POST /abort                       {file_id}
    GET  /manifests/{file_id}         manifest (with the integrity key) and shard locations
    POST /reports                     {file_id,index,node_id,kind: corrupt|unavailable}
    POST /ns/{op}                     namespace operations for the driver
    POST /admin/check                 run the checker and drain the repair queue now

The coordinator is never on the driver's data path, never sees a user key, and stores only
what repair needs: each file's integrity key. With ``--token``, every route except ``/files``
and ``/health`` needs ``Authorization: Bearer <token>`` (nodes and drivers are configured with it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

import corestore.errors as errors
from corestore.errors import CorestoreError, DataLoss, InvalidArgument, NotFound, Unauthenticated
from corestore.memory import tune_malloc

from . import namespace as ns
from . import store as st
from .crypto import FileKeys
from .files_api import add_routes as add_files_routes
from .manifest import DEFAULT_CHUNK, Manifest, check_chunk_size, parse_redundancy
from .pipeline import POOL, Placement, _check_record
from .repair import repair_file
from .transfer import open_stream, upload

__all__ = ["Coordinator", "CoordinatorConfig", "run_coordinator"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoordinatorConfig:
    heartbeat: float = 2.0  #: node heartbeat interval; suspect after 3 missed
    dead_after: float = 30.0  #: seconds without heartbeat before the dead check
    repair_grace: float = 0.0  #: delay before repairing after a node death
    checker_interval: float = 10.0
    audit_interval: float = 30.0
    audit_sample: int = 4
    pending_timeout: float = 3600.0  #: abandoned uploads are garbage after this
    redundancy: str = "4-6"
    chunk_size: int = DEFAULT_CHUNK
    write_quorum: int = 0  #: 0 means k + 1
    token: str = ""


class Coordinator:
    def __init__(
        self, db_path: Path | str, config: CoordinatorConfig = CoordinatorConfig()
    ) -> None:  # noqa: B008
        self.config = config
        self.store = st.Store(db_path)
        self.session: aiohttp.ClientSession | None = None
        self.owner = uuid.uuid4().hex
        self._repair_wakeup = asyncio.Event()
        self._repair_lock = asyncio.Lock()

    # -- Control (local implementation, for /files) -----------------------------------------

    async def allocate(self, k: int, m: int, chunk_size: int, cipher: str) -> dict:
        return await self.store.run(st.allocate, k, m, chunk_size, cipher, 0)

    async def commit(self, manifest: Manifest, stored: dict, extra: dict | None) -> dict:
        def tx(db):  # noqa: ANN001, ANN202
            state = st.commit(db, manifest, stored)
            entry = ns.bind_content(db, extra, manifest.file_id, manifest.size) if extra else None
            return {"state": state, "entry": entry}

        result = await self.store.run(tx)
        if result["state"] != "active":
            self._repair_wakeup.set()
        return result

    async def abort(self, file_id: str) -> None:
        await self.store.run(st.delete_file, file_id)

    def report(self, file_id: str, index: int, node_id: str, kind: str) -> None:
        asyncio.ensure_future(self._report(file_id, index, node_id, kind))

    async def _report(self, file_id: str, index: int, node_id: str, kind: str) -> None:
        await self.store.run(st.report, file_id, index, node_id, kind)
        if kind == "corrupt":
            self._repair_wakeup.set()

    # -- used by the /files API ----------------------------------------------------------------

    async def upload(
        self,
        chunks: AsyncIterable[bytes],
        *,
        k: int,
        m: int,
        chunk_size: int,
        cipher: str,
        user_key: bytes | None,
        size_hint: int | None = None,
    ) -> tuple[Manifest, str]:
        assert self.session is not None

        def check_size(size: int) -> None:
            if size_hint is not None and size != size_hint:
                raise InvalidArgument(f"the body had {size} bytes, Content-Length said {size_hint}")

        manifest, result = await upload(
            self,
            self.session,
            chunks,
            k=k,
            m=m,
            chunk_size=chunk_size,
            cipher=cipher,
            user_key=user_key,
            write_quorum=self.config.write_quorum or None,
            size_hint=size_hint,
            before_commit=check_size,
        )
        return manifest, result["state"]

    def open_stream(
        self,
        manifest: Manifest,
        keys: FileKeys | None,
        sources: list[Placement],
        start: int,
        end: int,
    ) -> AsyncIterator[bytes]:
        assert self.session is not None
        return open_stream(self, self.session, manifest, keys, sources, start, end)

    # -- HTTP handlers ---------------------------------------------------------------------------

    async def h_register(self, request: web.Request) -> web.Response:
        body = await request.json()
        delete = await self.store.run(st.register_node, body, body.get("inventory", []))
        self._repair_wakeup.set()
        return web.json_response({"delete": delete})

    async def h_heartbeat(self, request: web.Request) -> web.Response:
        body = await request.json()
        delete = await self.store.run(st.heartbeat, request.match_info["node_id"], body)
        if delete is None:
            raise NotFound("unknown node: register again")
        return web.json_response({"delete": delete})

    async def h_status(self, request: web.Request) -> web.Response:
        return web.json_response(await self.store.run(st.status))

    async def h_alloc(self, request: web.Request) -> web.Response:
        body = await request.json()
        k, m = parse_redundancy(f"{int(body['k'])}-{int(body['m'])}")
        check_chunk_size(int(body["chunk_size"]))
        if body.get("ns"):
            w = body["ns"]
            await self.store.run(
                ns.check_write, w["ref"], w.get("if_match"), w.get("if_not_exist", False)
            )
        alloc = await self.store.run(
            st.allocate,
            k,
            m,
            int(body["chunk_size"]),
            str(body["cipher"]),
            int(body.get("size", 0)),
        )
        return web.json_response(alloc)

    async def h_commit(self, request: web.Request) -> web.Response:
        body = await request.json()
        manifest = Manifest.from_json(body["manifest"])
        return web.json_response(await self.commit(manifest, body["stored"], body.get("ns")))

    async def h_abort(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.abort(str(body["file_id"]))
        return web.json_response({})

    async def h_manifest(self, request: web.Request) -> web.Response:
        return web.json_response(await self.store.run(st.file_info, request.match_info["file_id"]))

    async def h_report(self, request: web.Request) -> web.Response:
        b = await request.json()
        await self._report(str(b["file_id"]), int(b["index"]), str(b["node_id"]), str(b["kind"]))
        return web.json_response({})

    async def h_ns(self, request: web.Request) -> web.Response:
        op = ns.OPS.get(request.match_info["op"])
        if op is None:
            raise NotFound("unknown namespace operation")
        args = await request.json()
        return web.json_response(await self.store.run(op, args))

    async def h_check(self, request: web.Request) -> web.Response:
        audit = int(request.query.get("audit", self.config.audit_sample))
        await self.store.run(st.checker_scan, self.config.pending_timeout)
        await self.audit_once(audit)
        await self.drain_repairs()
        return web.json_response(await self.store.run(st.status))

    # -- background work -----------------------------------------------------------------------

    async def monitor_loop(self) -> None:
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.heartbeat)
            try:
                overdue = await self.store.run(st.sweep_nodes, 3 * cfg.heartbeat, cfg.dead_after)
                for node_id in overdue:
                    if await self._probe(node_id):
                        await self.store.run(st.node_seen, node_id)
                    else:
                        log.warning("node %s is dead; repairing its shards", node_id)
                        await self.store.run(st.declare_dead, node_id, cfg.repair_grace)
                        self._repair_wakeup.set()
            except Exception:  # noqa: BLE001
                log.exception("monitor pass failed")

    async def _probe(self, node_id: str) -> bool:
        nodes = {n["node_id"]: n for n in await self.store.run(st.list_nodes)}
        assert self.session is not None
        try:
            async with self.session.get(
                f"{nodes[node_id]['url']}/health", timeout=aiohttp.ClientTimeout(total=2)
            ) as resp:
                return resp.status == 200
        except Exception:  # noqa: BLE001
            return False

    async def repair_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._repair_wakeup.wait(), 1.0)
            except TimeoutError:
                pass
            self._repair_wakeup.clear()
            try:
                await self.drain_repairs()
            except Exception:  # noqa: BLE001
                log.exception("repair pass failed")

    async def drain_repairs(self) -> None:
        """Lease and run repair jobs until none is due."""
        assert self.session is not None
        async with self._repair_lock:
            for _ in range(10_000):
                file_id = await self.store.run(st.lease_job, self.owner, 600.0)
                if file_id is None:
                    return
                ok = False
                try:
                    ok = await repair_file(self.store, self.session, file_id)
                except Exception as exc:  # noqa: BLE001
                    log.warning("repair of %s failed: %s", file_id, exc)
                await self.store.run(st.finish_job, file_id, self.owner, ok, 2.0)

    async def checker_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.checker_interval)
            try:
                await self.store.run(st.checker_scan, self.config.pending_timeout)
                self._repair_wakeup.set()
            except Exception:  # noqa: BLE001
                log.exception("checker pass failed")

    async def audit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.audit_interval)
            try:
                await self.audit_once()
            except Exception:  # noqa: BLE001
                log.exception("audit pass failed")

    async def audit_once(self, sample: int | None = None) -> None:
        """Fetch one random record of a few random shards and check its tag (Storj-style audit)."""
        assert self.session is not None
        loop = asyncio.get_running_loop()
        for row in await self.store.run(st.audit_sample, sample or self.config.audit_sample):
            m = Manifest.from_json(json.loads(row["manifest"]))
            c = random.randrange(m.n_chunks)
            start, length = m.record_offset(c), m.record_len(c)
            p = Placement(row["shard_index"], row["node_id"], row["url"])
            try:
                async with self.session.get(
                    p.shard_url(m.file_id),
                    headers={"Range": f"bytes={start}-{start + length - 1}"},
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:
                    if resp.status == 404:
                        raise DataLoss("shard missing")
                    if resp.status != 206 or not resp.headers.get("Content-Range", "").endswith(
                        f"/{m.shard_size}"
                    ):
                        raise DataLoss("shard has the wrong size")
                    record = await resp.content.readexactly(length)
                await loop.run_in_executor(POOL, _check_record, m, p.index, c, record)
            except (DataLoss, asyncio.IncompleteReadError) as exc:
                log.warning(
                    "audit: shard %s of %s on %s failed: %s", p.index, m.file_id, p.node_id, exc
                )
                await self._report(m.file_id, p.index, p.node_id, "corrupt")
            except Exception:  # noqa: BLE001 - unreachable nodes are the monitor's business
                pass

    # -- app -------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._auth], client_max_size=64 << 20)
        r = app.router
        r.add_get("/health", lambda req: web.json_response({"ok": True}))
        r.add_post("/nodes/register", self.h_register)
        r.add_post("/nodes/{node_id}/heartbeat", self.h_heartbeat)
        r.add_get("/status", self.h_status)
        r.add_post("/alloc", self.h_alloc)
        r.add_post("/commit", self.h_commit)
        r.add_post("/abort", self.h_abort)
        r.add_get("/manifests/{file_id}", self.h_manifest)
        r.add_post("/reports", self.h_report)
        r.add_post("/ns/{op}", self.h_ns)
        r.add_post("/admin/check", self.h_check)
        add_files_routes(app, self)

        async def lifecycle(app: web.Application):
            self.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60),
                connector=aiohttp.TCPConnector(limit=0),
            )
            tasks = [
                asyncio.create_task(coro)
                for coro in (
                    self.monitor_loop(),
                    self.repair_loop(),
                    self.checker_loop(),
                    self.audit_loop(),
                )
            ]
            yield
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.session.close()
            self.store.close()

        app.cleanup_ctx.append(lifecycle)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):  # noqa: ANN001, ANN202
        token = self.config.token
        if token and not (request.path.startswith("/files") or request.path == "/health"):
            if request.headers.get("Authorization") != f"Bearer {token}":
                raise Unauthenticated("a valid bearer token is required")
        return await handler(request)

    @web.middleware
    async def _errors(self, request: web.Request, handler):  # noqa: ANN001, ANN202
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except CorestoreError as exc:
            return _error_response(exc)
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            return _error_response(InvalidArgument(f"malformed request: {exc}"))
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path)
            return _error_response(CorestoreError())


def _error_response(exc: CorestoreError) -> web.Response:
    return web.json_response(
        {"error": type(exc).__name__, "message": exc.message}, status=exc.http_status
    )


def error_from_json(status: int, body: dict) -> CorestoreError:
    """The inverse of :func:`_error_response`, for clients of the control plane."""
    cls = getattr(errors, str(body.get("error", "")), None)
    if not (isinstance(cls, type) and issubclass(cls, CorestoreError)):
        cls = errors.Unavailable if status >= 500 else CorestoreError
    return cls(str(body.get("message", "")) or None)


def run_coordinator(*, host: str, port: int, db: Path, config: CoordinatorConfig) -> None:
    coordinator = Coordinator(db, config)
    tune_malloc()  # the /files API encrypts and encodes like the driver does
    web.run_app(coordinator.app(), host=host, port=port, print=None, access_log=None)
