"""The ``cubbit_p2p`` driver: the corestore driver contract on top of a swarm.

* **Data path.** The driver encrypts, erasure-codes and tags on its own side and streams shards
  straight to the nodes (one PUT per shard), and reads them back the same way. The coordinator
  places and records shards but is never on the data path.
* **Keys.** Every upload's keys come from the mount's ``secret`` via HKDF with a fresh random salt
  (see :mod:`.crypto`), so nothing secret is stored anywhere but in the server's config.
* **Namespace.** Folders, names, ids, etags and metadata live in the coordinator, so several
  corestore servers configured with the same coordinator and secret share one tree.
* **Atomic writes.** New content gets a new file id; the path is re-pointed in the same
  coordinator transaction that commits the manifest, only after the stream ended and its size and
  checksum were verified. A failed or cut upload leaves the old content in place.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from corestore import (
    ByteRange,
    Checksum,
    Quota,
    Reference,
    ResourceInfo,
    ResourceType,
    StorageDriver,
    SupportsMetadata,
    WriteOptions,
)
from corestore.config import ByteSize, option
from corestore.errors import ConfigError, IsAFolder, Unavailable
from corestore.paths import split_path
from corestore.resources import guess_mime_type
from corestore.streams import CHECKSUM_TYPES, StreamDigest, checksum_option

from .coordinator import error_from_json
from .manifest import DEFAULT_CHUNK, Manifest, check_chunk_size, parse_redundancy
from .repair import usable_sources
from .transfer import open_stream, upload

__all__ = ["P2PDriver", "P2POptions"]


@dataclass(frozen=True)
class P2POptions:
    coordinator: str = option(doc="URL of the swarm coordinator, e.g. http://127.0.0.1:7700")
    secret: str = option(
        doc="server secret the per-file encryption keys are derived from "
        "(keep it: losing it loses the data)",
        secret=True,
    )
    token: str = option("", doc="bearer token of the coordinator's control plane", secret=True)
    redundancy: str = option(
        "4-6", doc="k-m erasure coding (any k of m shards rebuild a file) or a preset"
    )
    chunk_size: ByteSize = option(
        ByteSize(DEFAULT_CHUNK), doc="plaintext bytes per encrypted, coded chunk"
    )
    cipher: Literal["aes256gcm", "chacha20poly1305"] = option("aes256gcm", doc="AEAD for chunks")
    checksum: str = option(
        "adler32",
        doc=f"checksum of the plaintext computed while streaming and returned by stat: one of "
        f"{', '.join(CHECKSUM_TYPES)} or 'none' (adler32 is nearly free; sha1 costs a core "
        f"second per GB)",
    )
    write_quorum: int = option(0, doc="shards that must be stored for a write to succeed (0: k+1)")
    stall_timeout: float = option(30.0, doc="seconds a shard stream may stall before it is dropped")

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ConfigError("cubbit_p2p.secret must be at least 16 characters")
        parse_redundancy(self.redundancy)
        check_chunk_size(int(self.chunk_size))
        checksum_option(self.checksum)


class _HTTPControl:
    """The control plane as seen by the driver: JSON over HTTP to the coordinator."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base.rstrip("/")
        self.pending_ns: dict | None = None  # write pre-checks, run before any byte is sent
        self.size_hint = 0  # lets placement skip nodes without room for the shards

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            async with self.session.request(method, f"{self.base}{path}", json=body) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    try:
                        raise error_from_json(resp.status, json.loads(text))
                    except ValueError:
                        raise Unavailable(f"coordinator answered {resp.status}") from None
                return json.loads(text) if text else None
        except aiohttp.ClientError as exc:
            raise Unavailable(f"coordinator unreachable: {exc}") from exc

    async def allocate(self, k: int, m: int, chunk_size: int, cipher: str) -> dict:
        body = {
            "k": k, "m": m, "chunk_size": chunk_size, "cipher": cipher,
            "ns": self.pending_ns, "size": self.size_hint,
        }  # fmt: skip
        return await self.call("POST", "/alloc", body)

    async def commit(self, manifest: Manifest, stored: dict, extra: dict | None) -> Any:
        return await self.call(
            "POST", "/commit", {"manifest": manifest.to_json(), "stored": stored, "ns": extra}
        )

    async def abort(self, file_id: str) -> None:
        try:
            await self.call("POST", "/abort", {"file_id": file_id})
        except Exception:  # noqa: BLE001 - the coordinator's pending sweep collects it
            pass

    def report(self, file_id: str, index: int, node_id: str, kind: str) -> None:
        body = {"file_id": file_id, "index": index, "node_id": node_id, "kind": kind}
        task = asyncio.ensure_future(self.call("POST", "/reports", body))
        task.add_done_callback(lambda t: t.exception())


class P2PDriver(StorageDriver, SupportsMetadata):
    """Files encrypted, erasure-coded and spread over the nodes of a swarm."""

    name = "cubbit_p2p"
    Options = P2POptions
    description = "encrypted, erasure-coded peer-to-peer swarm (zfec, AES-256-GCM)"

    def __init__(self, options: P2POptions | None = None) -> None:
        super().__init__(options)
        opts: P2POptions = self.options
        self._k, self._m = parse_redundancy(opts.redundancy)
        # One mount key; every upload still gets unique keys from its random salt.
        self._user_key = hmac.digest(
            opts.secret.encode(), b"cbst/v1/corestore-driver-key", "sha256"
        )
        self._session: aiohttp.ClientSession | None = None
        self._control: _HTTPControl | None = None

    async def open(self) -> None:
        headers = {"Authorization": f"Bearer {self.options.token}"} if self.options.token else {}
        self._session = aiohttp.ClientSession(
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60),
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._control = _HTTPControl(self._session, self.options.coordinator)
        await self._control.call("GET", "/health")

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def _c(self) -> _HTTPControl:
        if self._control is None:
            raise Unavailable("the driver is not open")
        return self._control

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _ref(ref: Reference) -> dict:
        split_path(ref.path)  # validate here too: bad paths never leave the server
        return {"path": ref.path if ref.path != "." else "/", "id": ref.resource_id}

    @staticmethod
    def _info(d: dict) -> ResourceInfo:
        is_dir = d["type"] == "container"
        checksum = None
        if d.get("checksum"):
            kind, _, value = d["checksum"].partition(":")
            checksum = Checksum(kind, value)
        name = d["path"].rstrip("/").rsplit("/", 1)[-1]
        return ResourceInfo(
            id=d["id"],
            path=d["path"],
            type=ResourceType.CONTAINER if is_dir else ResourceType.FILE,
            size=d["size"],
            mtime=d["mtime"],
            etag=d["etag"],
            parent_id=d["parent_id"],
            checksum=checksum,
            mime_type=guess_mime_type(name, is_dir),
            metadata=d.get("metadata") or {},
        )

    async def _ns(self, op: str, **args: Any) -> Any:
        return await self._c.call("POST", f"/ns/{op}", args)

    # -- required core ------------------------------------------------------------------------

    async def stat(self, ref: Reference, *, metadata_keys: Sequence[str] = ()) -> ResourceInfo:
        return self._info(
            await self._ns("stat", ref=self._ref(ref), keys=list(metadata_keys) or None)
        )

    async def list_container(
        self, ref: Reference, *, metadata_keys: Sequence[str] = ()
    ) -> AsyncIterator[ResourceInfo]:
        after = ""
        while True:
            page = await self._ns(
                "list", ref=self._ref(ref), after=after, keys=list(metadata_keys) or None
            )
            for entry in page["entries"]:
                yield self._info(entry)
            if not page["next"]:
                return
            after = page["next"]

    async def create_container(self, ref: Reference) -> ResourceInfo:
        return self._info(await self._ns("mkdir", ref=self._ref(ref)))

    async def touch(self, ref: Reference, *, lock_id: str | None = None) -> ResourceInfo:
        return self._info(await self._ns("touch", ref=self._ref(ref)))

    async def delete(self, ref: Reference, *, lock_id: str | None = None) -> None:
        await self._ns("delete", ref=self._ref(ref))

    async def move(
        self, source: Reference, destination: Reference, *, lock_id: str | None = None
    ) -> ResourceInfo:
        return self._info(await self._ns("move", src=self._ref(source), dst=self._ref(destination)))

    async def open_read(
        self, ref: Reference, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        entry = await self._ns("stat", ref=self._ref(ref))
        if entry["type"] == "container":
            raise IsAFolder(entry["path"])
        if not entry["file_id"]:
            return  # touched, never written: empty
        info = await self._c.call("GET", f"/manifests/{entry['file_id']}")
        manifest = Manifest.from_json(info["manifest"])
        keys = manifest.unlock(self._user_key)
        start, end = (byte_range or ByteRange()).clamp(manifest.size)
        if end <= start:
            return
        sources = usable_sources(info)
        if len(sources) < manifest.k:
            raise Unavailable(f"need {manifest.k} reachable shards, have {len(sources)}")
        assert self._session is not None
        stream = open_stream(self._c, self._session, manifest, keys, sources, start, end)
        try:
            async for piece in stream:
                yield piece
        finally:
            await stream.aclose()

    async def write(
        self,
        ref: Reference,
        chunks: AsyncIterable[bytes],
        options: WriteOptions = WriteOptions(),  # noqa: B008
    ) -> ResourceInfo:
        assert self._session is not None
        digest = StreamDigest(checksum_option(self.options.checksum), options)
        target = self._ref(ref)
        checksum: list[Checksum | None] = [None]
        ns = {"ref": target, "if_match": options.if_match, "if_not_exist": options.if_not_exist}

        def verify(size: int) -> None:
            checksum[0] = digest.verify()
            ns["checksum"] = str(checksum[0]) if checksum[0] else None

        control = _HTTPControl(self._session, self.options.coordinator)
        control.pending_ns = dict(ns)
        control.size_hint = options.expected_size or 0
        ns["mtime"] = options.mtime
        _, committed = await upload(
            control,
            self._session,
            chunks,
            k=self._k,
            m=self._m,
            chunk_size=int(self.options.chunk_size),
            cipher=self.options.cipher,
            user_key=self._user_key,
            write_quorum=self.options.write_quorum or None,
            stall_timeout=self.options.stall_timeout,
            on_plaintext=digest.update,
            overlap_plaintext=digest.costly,  # adler32 costs less than a thread hand-over
            before_commit=verify,
            commit_extra=ns,
            size_hint=options.expected_size,
        )
        return self._info(committed["entry"])

    async def get_quota(self, ref: Reference) -> Quota:
        usage = await self._ns("usage")
        return Quota(total=usage["raw_capacity"] * self._k // self._m, used=usage["used"])

    # -- metadata -----------------------------------------------------------------------------

    async def set_metadata(
        self, ref: Reference, metadata: Mapping[str, str], *, lock_id: str | None = None
    ) -> None:
        await self._ns("set_metadata", ref=self._ref(ref), set=dict(metadata), unset=[])

    async def unset_metadata(
        self, ref: Reference, keys: Sequence[str], *, lock_id: str | None = None
    ) -> None:
        await self._ns("set_metadata", ref=self._ref(ref), set={}, unset=list(keys))
