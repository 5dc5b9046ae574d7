"""A storage node: keeps shards as files of fixed-size records and serves them over HTTP.

Data plane (streaming HTTP, no per-record round trips)::

    PUT    /shards/{file_id}/{index}   body = the shard (temp file, fsync, rename) -> {size, digest}
    GET    /shards/{file_id}/{index}   Range: bytes=a-b supported (206 + Content-Range)
    HEAD   /shards/{file_id}/{index}
    DELETE /shards/{file_id}/{index}
    GET    /health                     -> {"node_id", "capacity", "used", "shards"}

The node does not parse shards: every check happens at the reader with the per-block tags, so a
node (honest or not) can never make a client accept a wrong byte. It registers with the
coordinator with its inventory, heartbeats capacity and usage, and deletes the shards the
coordinator lists as stale (replaced by repair, or left by failed uploads).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web

from corestore.http import socketbody
from corestore.http.socketbody import pump_body
from corestore.memory import tune_malloc

from .shardfile import ShardWriter as _ShardWriter

__all__ = ["Node", "run_node"]

log = logging.getLogger(__name__)

_WRITE_BUFFER = 1 << 20
_READ_PIECE = 1 << 20
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Node:
    def __init__(
        self,
        data_dir: Path,
        *,
        coordinator: str,
        public_url: str,
        capacity: int,
        heartbeat: float = 2.0,
        zone: str = "",
        token: str = "",
    ) -> None:
        self.token = token
        self.data = Path(data_dir)
        self.shards = self.data / "shards"
        self.tmp = self.data / "tmp"
        for d in (self.shards, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        id_file = self.data / "node_id"
        if not id_file.exists():
            id_file.write_text(uuid.uuid4().hex)
        self.node_id = id_file.read_text().strip()
        self.coordinator = coordinator.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.capacity = capacity
        self.heartbeat = heartbeat
        self.zone = zone
        self.used = 0
        self._sizes: dict[tuple[str, int], int] = {}
        self._deleted: list[list] = []
        for sub in list(self.tmp.iterdir()):  # writes cut by a crash are never visible
            sub.unlink(missing_ok=True)
        for path in self.shards.glob("*/*"):
            self._sizes[(path.parent.name, int(path.name))] = path.stat().st_size
        self.used = sum(self._sizes.values())

    # -- paths ------------------------------------------------------------------------------

    def _path(self, request: web.Request) -> tuple[tuple[str, int], Path]:
        try:
            file_id = str(uuid.UUID(request.match_info["file_id"]))
            index = int(request.match_info["index"])
        except ValueError:
            raise web.HTTPBadRequest(text="bad shard name") from None
        if not 0 <= index < 256:
            raise web.HTTPBadRequest(text="bad shard index")
        return (file_id, index), self.shards / file_id / str(index)

    # -- handlers ---------------------------------------------------------------------------

    async def put_shard(self, request: web.Request) -> web.Response:
        key, path = self._path(request)
        announced = request.content_length
        if announced is not None and self.used + announced > self.capacity:
            raise web.HTTPInsufficientStorage(text="node is full")
        tmp = self.tmp / f"{uuid.uuid4().hex}.part"
        fd = await asyncio.to_thread(os.open, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        writer = _ShardWriter(fd, self.capacity - self.used)
        try:
            await pump_body(request, writer.write, chunk_size=_WRITE_BUFFER)
            await asyncio.to_thread(self._commit, writer, tmp, path)
        except BaseException:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
            raise
        finally:
            writer.close()
            await asyncio.to_thread(os.close, fd)  # closed here only, once, whatever happened
        old = self._sizes.get(key, 0)
        self._sizes[key] = writer.size
        self.used += writer.size - old
        return web.json_response({"size": writer.size, "digest": writer.digest()})

    @staticmethod
    def _commit(writer: _ShardWriter, tmp: Path, path: Path) -> None:
        writer.flush()
        os.fsync(writer.fd)  # little is left to write (see ShardWriter)
        path.parent.mkdir(exist_ok=True)
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def get_shard(self, request: web.Request) -> web.StreamResponse:
        key, path = self._path(request)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise web.HTTPNotFound(text="no such shard") from None
        try:
            total = os.fstat(handle.fileno()).st_size
            start, end = 0, total
            status = 200
            headers = {"Accept-Ranges": "bytes"}
            header = request.headers.get("Range")
            if header:
                start, end = _parse_range(header, total)
                status = 206
                headers["Content-Range"] = (
                    f"bytes {start}-{end - 1}/{total}" if end > start else f"bytes */{total}"
                )
            resp = web.StreamResponse(status=status, headers=headers)
            resp.content_length = end - start
            await resp.prepare(request)
            if request.method == "HEAD":
                return resp
            await asyncio.to_thread(handle.seek, start)
            remaining = end - start
            while remaining > 0:
                piece = await asyncio.to_thread(handle.read, min(_READ_PIECE, remaining))
                if not piece:
                    break
                remaining -= len(piece)
                await resp.write(piece)
            await resp.write_eof()
            return resp
        finally:
            await asyncio.to_thread(handle.close)

    async def delete_shard(self, request: web.Request) -> web.Response:
        key, path = self._path(request)
        await asyncio.to_thread(self._remove, key, path)
        return web.json_response({"deleted": True})

    def _remove(self, key: tuple[str, int], path: Path) -> None:
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass
        self.used -= self._sizes.pop(key, 0)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(self._status())

    def _status(self) -> dict:
        return {
            "node_id": self.node_id,
            "url": self.public_url,
            "zone": self.zone,
            "capacity": self.capacity,
            "used": self.used,
            "shards": len(self._sizes),
        }

    # -- control plane ----------------------------------------------------------------------

    async def control_loop(self, app: web.Application) -> None:
        """Register (with the inventory), then heartbeat; delete the shards called stale."""
        registered = False
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10), headers=headers
        ) as session:
            while True:
                try:
                    if not registered:
                        body = {
                            **self._status(),
                            "inventory": [[f, i, s] for (f, i), s in self._sizes.items()],
                        }
                        async with session.post(
                            f"{self.coordinator}/nodes/register", json=body
                        ) as resp:
                            resp.raise_for_status()
                            answer = await resp.json()
                        registered = True
                    else:
                        body = {**self._status(), "deleted": self._deleted}
                        async with session.post(
                            f"{self.coordinator}/nodes/{self.node_id}/heartbeat", json=body
                        ) as resp:
                            if resp.status == 404:
                                registered = False
                                continue
                            resp.raise_for_status()
                            answer = await resp.json()
                        self._deleted = []
                    for file_id, index in answer.get("delete", []):
                        key = (str(uuid.UUID(file_id)), int(index))
                        await asyncio.to_thread(
                            self._remove, key, self.shards / key[0] / str(key[1])
                        )
                        self._deleted.append([key[0], key[1]])
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the coordinator may be down; retry
                    log.warning("coordinator unreachable: %s", exc)
                await asyncio.sleep(self.heartbeat)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=0)
        socketbody.enable(app)  # shards are read off the socket straight into their file
        route = "/shards/{file_id}/{index}"
        app.router.add_put(route, self.put_shard)
        app.router.add_get(route, self.get_shard)  # also answers HEAD
        app.router.add_delete(route, self.delete_shard)
        app.router.add_get("/health", self.health)

        async def background(app: web.Application):
            task = asyncio.create_task(self.control_loop(app))
            yield
            task.cancel()

        app.cleanup_ctx.append(background)
        return app


def _parse_range(header: str, total: int) -> tuple[int, int]:
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{total}"})
    first, last = match.groups()
    if first == "":
        start, end = max(0, total - int(last)), total
    else:
        start = int(first)
        end = total if last == "" else min(total, int(last) + 1)
    if start >= total and total > 0:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{total}"})
    return start, max(start, end)


def run_node(
    *,
    coordinator: str,
    host: str,
    port: int,
    data_dir: Path,
    capacity: int,
    heartbeat: float = 2.0,
    public_url: str | None = None,
    zone: str = "",
    token: str = "",
) -> None:
    node = Node(
        data_dir,
        coordinator=coordinator,
        public_url=public_url or f"http://{host}:{port}",
        capacity=capacity,
        heartbeat=heartbeat,
        zone=zone,
        token=token,
    )
    tune_malloc()
    web.run_app(node.app(), host=host, port=port, print=None, access_log=None)
