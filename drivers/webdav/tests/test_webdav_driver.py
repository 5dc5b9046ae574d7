"""Tests of the webdav driver beyond the conformance kit, against real servers."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest
from corestore_webdav import WebdavDriver
from corestore_webdav.driver import TEMP_PREFIX
from corestore_webdav.propfind import MultistatusParser, TruncatedListing, meta_key_of, meta_tag
from corestore_webdav.servers import WebdavServer, free_port
from corestore_webdav.status import error_for

from corestore.driver import Capability
from corestore.errors import (
    AlreadyExists,
    ConfigError,
    CorestoreError,
    ETagMismatch,
    InsufficientStorage,
    Locked,
    MissingParent,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from corestore.resources import Reference, WriteOptions
from corestore.testing import PeakRSS, generated_stream, list_names, read_all, write_bytes

Ref = Reference.of
GiB = 1 << 30


def open_driver(server: WebdavServer, **extra: object) -> WebdavDriver:
    return WebdavDriver.from_config(server.driver_config(**extra))


async def _leftovers(server: WebdavServer, folder: str) -> set[str]:
    """Names the server holds in ``folder`` on disk, waiting briefly for a cut request to settle."""
    names: set[str] = set()
    for _ in range(100):
        names = {p.name for p in (server.root / folder.strip("/")).iterdir()}
        if not any(n.startswith(TEMP_PREFIX) for n in names):
            break
        await asyncio.sleep(0.05)
    return names


# -- streaming and atomicity against both servers ---------------------------------------------


@pytest.mark.slow
async def test_one_gib_streams_with_bounded_memory(server: WebdavServer) -> None:
    """1 GiB up and down through the driver: peak RSS growth of this process stays < 64 MiB."""
    async with open_driver(server) as driver:
        ref = Ref(f"/big-{server.kind}.bin")
        sent, received = hashlib.sha256(), hashlib.sha256()
        with PeakRSS() as peak:
            info = await driver.write(
                ref, generated_stream(GiB, sent), WriteOptions(expected_size=GiB)
            )
            count = 0
            async for chunk in driver.open_read(ref):
                received.update(chunk)
                count += len(chunk)
        try:
            assert info.size == GiB and count == GiB
            assert received.hexdigest() == sent.hexdigest()
            assert peak.growth < 64 << 20, f"peak RSS grew by {peak.growth / 2**20:.1f} MiB"
        finally:
            await driver.delete(ref)


async def test_cut_upload_leaves_old_content_and_no_partial_object(server: WebdavServer) -> None:
    async with open_driver(server) as driver:
        folder = f"/cut-{time.monotonic_ns()}"
        await driver.create_container(Ref(folder))
        await write_bytes(driver, f"{folder}/f", b"precious")

        async def cut() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"x" * (1 << 20)
            raise ConnectionResetError("client went away mid-upload")

        for name in ("f", "new"):
            with pytest.raises(ConnectionResetError):
                await driver.write(Ref(f"{folder}/{name}"), cut())
        assert await read_all(driver, f"{folder}/f") == b"precious"
        assert await list_names(driver, folder) == {"f"}
        assert await _leftovers(server, folder) == {"f"}, "a partial upload stayed on the server"


async def test_short_stream_with_expected_size_is_cut(server: WebdavServer) -> None:
    async with open_driver(server) as driver:
        folder = f"/short-{time.monotonic_ns()}"
        await driver.create_container(Ref(folder))
        await write_bytes(driver, f"{folder}/f", b"old")
        with pytest.raises(CorestoreError):
            await write_bytes(driver, f"{folder}/f", b"1234", expected_size=10)
        assert await read_all(driver, f"{folder}/f") == b"old"
        assert await _leftovers(server, folder) == {"f"}


async def test_if_match_uses_server_etags(server: WebdavServer) -> None:
    async with open_driver(server) as driver:
        folder = f"/etag-{time.monotonic_ns()}"
        await driver.create_container(Ref(folder))
        first = await write_bytes(driver, f"{folder}/f", b"one")
        await write_bytes(driver, f"{folder}/f", b"two", if_match=first.etag)
        with pytest.raises(ETagMismatch):
            await write_bytes(driver, f"{folder}/f", b"three", if_match=first.etag)
        with pytest.raises(ETagMismatch):
            await write_bytes(driver, f"{folder}/missing", b"x", if_match="nope")
        assert await read_all(driver, f"{folder}/f") == b"two"


# -- credentials and reachability -------------------------------------------------------------


async def test_wrong_password_is_permission_denied(server: WebdavServer) -> None:
    driver = WebdavDriver.from_config(
        {"url": server.url, "username": server.username, "password": "wrong"}
    )
    with pytest.raises(PermissionDenied) as caught:
        await driver.open()
    assert "credentials" in caught.value.message


async def test_missing_credentials_is_permission_denied(server: WebdavServer) -> None:
    with pytest.raises(PermissionDenied):
        await WebdavDriver.from_config({"url": server.url}).open()


async def test_wrong_bearer_token_is_permission_denied(server: WebdavServer) -> None:
    with pytest.raises(PermissionDenied):
        await WebdavDriver.from_config({"url": server.url, "bearer_token": "not-a-token"}).open()


async def test_unreachable_server_is_unavailable() -> None:
    driver = WebdavDriver.from_config({"url": f"http://127.0.0.1:{free_port()}/", "timeout": 5.0})
    with pytest.raises(Unavailable):
        await driver.open()


# -- ids and capabilities per server ----------------------------------------------------------


async def test_capabilities_follow_the_server(
    wsgidav_server: WebdavServer, rclone_server: WebdavServer
) -> None:
    async with open_driver(wsgidav_server) as wsgidav, open_driver(rclone_server) as rclone:
        assert wsgidav.supports(Capability.METADATA) and wsgidav._scheme == "property"
        assert not rclone.supports(Capability.METADATA) and rclone._scheme == "path"


async def test_property_ids_require_proppatch(rclone_server: WebdavServer) -> None:
    with pytest.raises(ConfigError):
        await open_driver(rclone_server, id_scheme="property").open()
    with pytest.raises(ConfigError):
        await open_driver(rclone_server, id_scheme="fileid").open()


async def test_id_found_after_a_move_by_another_client(wsgidav_server: WebdavServer) -> None:
    """Ids live on the server: a fresh driver (empty cache) finds a moved resource by scanning."""
    async with open_driver(wsgidav_server) as one, open_driver(wsgidav_server) as other:
        folder = f"/ids-{time.monotonic_ns()}"
        await one.create_container(Ref(folder))
        await one.create_container(Ref(f"{folder}/a"))
        info = await write_bytes(one, f"{folder}/a/f", b"x")
        await other.move(Ref(f"{folder}/a"), Ref(f"{folder}/b"))
        found = await one.stat(Reference.by_id(info.id))
        assert found.path == f"{folder}/b/f"
        await one.delete(Ref(f"{folder}/b/f"))
        with pytest.raises(NotFound):
            await one.stat(Reference.by_id(info.id))


async def test_path_ids_can_be_forced(wsgidav_server: WebdavServer) -> None:
    async with open_driver(wsgidav_server, id_scheme="path") as driver:
        info = await driver.create_container(Ref(f"/pathid-{time.monotonic_ns()}"))
        assert (await driver.stat(Reference.by_id(info.id))).path == info.path
        with pytest.raises(NotFound):
            await driver.stat(Reference.by_id("p!!not-base64"))


async def test_overwrite_keeps_metadata(wsgidav_server: WebdavServer) -> None:
    async with open_driver(wsgidav_server) as driver:
        path = f"/meta-{time.monotonic_ns()}"
        await write_bytes(driver, path, b"one")
        await driver.set_metadata(Ref(path), {"k": "v"})
        await write_bytes(driver, path, b"two")
        assert dict((await driver.stat(Ref(path), metadata_keys=["k"])).metadata) == {"k": "v"}


async def test_plain_errors(rclone_server: WebdavServer) -> None:
    async with open_driver(rclone_server) as driver:
        folder = f"/plain-{time.monotonic_ns()}"
        await driver.create_container(Ref(folder))
        with pytest.raises(AlreadyExists):
            await driver.create_container(Ref(folder))
        with pytest.raises(MissingParent):
            await write_bytes(driver, f"{folder}/no/f", b"x")


# -- pure units -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, PermissionDenied),
        (403, PermissionDenied),
        (404, NotFound),
        (409, MissingParent),
        (412, ETagMismatch),
        (423, Locked),
        (507, InsufficientStorage),
        (503, Unavailable),
        (500, CorestoreError),
    ],
)
def test_status_translation(status: int, cls: type[CorestoreError]) -> None:
    error = error_for(status, "/x")
    assert type(error) is cls
    assert "/x" in error.message


def test_options_are_strict() -> None:
    with pytest.raises(ConfigError):
        WebdavDriver.from_config({"url": "ftp://x"})
    with pytest.raises(ConfigError):
        WebdavDriver.from_config({"url": "http://x/", "username": "u", "bearer_token": "t"})
    with pytest.raises(ConfigError):
        WebdavDriver.from_config({"url": "http://x/", "colour": "blue"})


def test_metadata_key_encoding_round_trips() -> None:
    for key in ("color", "ünï", "with space", "a:b", "1st"):
        assert meta_key_of(meta_tag(key).removeprefix("")) == key


def test_listing_is_parsed_incrementally() -> None:
    """Entries come out as their XML arrives, and the parsed elements are dropped."""
    head = b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">'
    item = (
        "<d:response><d:href>/base/dir/f{0}</d:href><d:propstat><d:prop>"
        "<d:getcontentlength>{0}</d:getcontentlength><d:resourcetype/></d:prop>"
        "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )
    parser = MultistatusParser("/base")
    assert list(parser.feed(head)) == []
    for i in range(1000):
        (entry,) = list(parser.feed(item.format(i).encode()))
        assert entry.segments == ("dir", f"f{i}") and entry.size == i
    assert list(parser.feed(b"</d:multistatus>")) == []
    assert parser._root is not None and len(parser._root) == 0


def test_plugin_import_does_not_load_webdav4() -> None:
    code = "import sys, corestore_webdav; print('webdav4' in sys.modules, 'httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_listing_with_junk_after_it_is_truncated() -> None:
    """rclone closes the multistatus early and appends an error when a child vanishes mid-walk."""
    body = (
        b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/a</d:href>'
        b"<d:propstat><d:prop/><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
        b"</d:multistatus>Internal Server Error"
    )
    with pytest.raises(TruncatedListing):
        list(MultistatusParser("").feed(body))
    with pytest.raises(CorestoreError):
        list(MultistatusParser("").feed(b"<d:multistatus xmlns:d='DAV:'><oops"))
        list(MultistatusParser("").close())


async def test_refused_chunked_upload_does_not_spoil_the_connection(server: WebdavServer) -> None:
    """cheroot answers 409 before reading a chunked body: the rest must not spoil what follows."""
    async with WebdavDriver.from_config(server.driver_config(max_connections=1)) as driver:
        for _ in range(10):
            with pytest.raises(MissingParent):
                await write_bytes(driver, "/no-such-folder/f", b"x" * 200_000, chunk_size=50_000)
            assert (await driver.stat(Ref("/"))).is_container


async def test_folder_etags_propagate_on_move(wsgidav_server: WebdavServer) -> None:
    async with open_driver(wsgidav_server) as driver:
        folder = f"/prop-{time.monotonic_ns()}"
        await driver.create_container(Ref(folder))
        await driver.create_container(Ref(f"{folder}/a"))
        await driver.create_container(Ref(f"{folder}/b"))
        await write_bytes(driver, f"{folder}/a/f", b"x")
        before = [
            (await driver.stat(Ref(p))).etag for p in ("/", folder, f"{folder}/a", f"{folder}/b")
        ]
        await driver.move(Ref(f"{folder}/a/f"), Ref(f"{folder}/b/f"))
        after = [
            (await driver.stat(Ref(p))).etag for p in ("/", folder, f"{folder}/a", f"{folder}/b")
        ]
        assert all(x != y for x, y in zip(before, after, strict=True))
