"""s3-specific behaviour against a real moto server: what the kit cannot know about S3."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from corestore_s3 import S3Driver
from corestore_s3.testing import MotoServer, driver_config, start_moto, stop_moto

from corestore.driver import Capability
from corestore.errors import (
    AlreadyExists,
    ConfigError,
    InvalidPath,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from corestore.resources import Reference, ResourceType, WriteOptions
from corestore.testing import PeakRSS, generated_stream, list_names, read_all, write_bytes

Ref = Reference.of
MiB = 1 << 20


def _open(moto: MotoServer, bucket: str, **extra: object) -> S3Driver:
    return S3Driver.from_config(driver_config(moto, bucket, **extra))


def _keys(moto: MotoServer, bucket: str) -> set[str]:
    answer = moto.client().list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in answer.get("Contents", [])}


def _uploads(moto: MotoServer, bucket: str) -> list[dict]:
    return moto.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


# -- data path -------------------------------------------------------------------------------


@pytest.mark.slow
async def test_one_gib_streams_with_bounded_memory(moto: MotoServer) -> None:
    """1 GiB up and down through multipart upload and ranged GETs, < 64 MiB RSS growth."""
    size = 1 << 30
    bucket = moto.new_bucket(versioned=False)
    async with _open(moto, bucket) as driver:
        sent, received = hashlib.sha256(), hashlib.sha256()
        with PeakRSS() as peak:
            info = await driver.write(
                Ref("/big.bin"), generated_stream(size, sent), WriteOptions(expected_size=size)
            )
            count = 0
            async for chunk in driver.open_read(Ref("/big.bin")):
                received.update(chunk)
                count += len(chunk)
        assert info.size == size == count
        assert received.hexdigest() == sent.hexdigest()
        assert peak.growth < 64 * MiB, f"peak RSS grew by {peak.growth / MiB:.1f} MiB"
        assert _uploads(moto, bucket) == []


async def _failing_stream(good_bytes: int) -> AsyncIterator[bytes]:
    block = b"x" * MiB
    for _ in range(good_bytes // MiB):
        yield block
    raise ConnectionResetError("client went away")


async def test_failed_multipart_upload_is_aborted(moto: MotoServer) -> None:
    bucket = moto.new_bucket(versioned=False)
    async with _open(moto, bucket, part_size="5MiB") as driver:
        await write_bytes(driver, "/f", b"old")
        with pytest.raises(ConnectionResetError):
            await driver.write(Ref("/f"), _failing_stream(23 * MiB))
        with pytest.raises(ConnectionResetError):
            await driver.write(Ref("/new"), _failing_stream(23 * MiB))
        assert await read_all(driver, "/f") == b"old"
        assert await list_names(driver, "/") == {"f"}
        assert _uploads(moto, bucket) == [], "a multipart upload was left behind"
        index = [k for k in _keys(moto, bucket) if k.startswith(".corestore/ids/")]
        assert len(index) == 1, "the failed new file left an id index entry"


async def test_cancelled_upload_is_aborted(moto: MotoServer) -> None:
    """A client hanging up cancels the write task: the upload must still be aborted."""
    bucket = moto.new_bucket(versioned=False)
    started = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        block = b"y" * MiB
        for index in range(10_000):
            if index == 12:
                started.set()
            yield block
            await asyncio.sleep(0)

    async with _open(moto, bucket, part_size="5MiB") as driver:
        task = asyncio.create_task(driver.write(Ref("/cut"), endless()))
        await asyncio.wait_for(started.wait(), 30)
        assert _uploads(moto, bucket), "the upload should be in progress"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _uploads(moto, bucket) == []
        with pytest.raises(NotFound):
            await driver.stat(Ref("/cut"))


async def test_short_multipart_stream_is_rejected_and_aborted(moto: MotoServer) -> None:
    bucket = moto.new_bucket(versioned=False)
    async with _open(moto, bucket, part_size="5MiB") as driver:
        data = b"z" * (12 * MiB)
        with pytest.raises(ValueError):  # InvalidArgument
            await write_bytes(driver, "/f", data, chunk_size=MiB, expected_size=13 * MiB)
        assert await list_names(driver, "/") == set()
        assert _uploads(moto, bucket) == []


async def test_multipart_write_and_ranged_read(moto: MotoServer) -> None:
    bucket = moto.new_bucket(versioned=False)
    async with _open(moto, bucket, part_size="5MiB", range_size="3MiB") as driver:
        data = bytes(range(256)) * (12 * MiB // 256 + 7)
        await write_bytes(driver, "/f", data, chunk_size=MiB + 5)
        assert await read_all(driver, "/f") == data
        from corestore.resources import ByteRange

        got = await read_all(driver, "/f", ByteRange(4 * MiB - 3, 5 * MiB))
        assert got == data[4 * MiB - 3 : 9 * MiB - 3]


# -- layout, ids and foreign objects ----------------------------------------------------------


async def test_layout_in_the_bucket(moto: MotoServer) -> None:
    bucket = moto.new_bucket(versioned=False)
    async with _open(moto, bucket, prefix="space") as driver:
        await driver.create_container(Ref("/d"))
        info = await write_bytes(driver, "/d/f.txt", b"hello")
        keys = _keys(moto, bucket)
        assert {"space/d/", "space/d/f.txt", "space/.corestore/root"} <= keys
        assert f"space/.corestore/ids/{info.id}" in keys
        head = moto.client().head_object(Bucket=bucket, Key="space/d/f.txt")
        assert head["Metadata"]["cs-id"] == info.id
        assert head["ContentType"] == "text/plain"


async def test_reserved_name_is_hidden_and_refused(moto: MotoServer) -> None:
    bucket = moto.new_bucket(versioned=False)
    async with _open(moto, bucket) as driver:
        await driver.touch(Ref("/visible"))
        assert await list_names(driver, "/") == {"visible"}
        with pytest.raises(InvalidPath):
            await driver.stat(Ref("/.corestore/root"))
        await driver.create_container(Ref("/sub"))
        await driver.touch(Ref("/sub/.corestore"))  # reserved only at the root
        assert await list_names(driver, "/sub") == {".corestore"}


async def test_objects_written_by_other_clients(moto: MotoServer) -> None:
    """Bare prefixes are folders; foreign objects get path ids, kept once the driver moves them."""
    bucket = moto.new_bucket(versioned=False)
    moto.client().put_object(Bucket=bucket, Key="raw/deep/data.csv", Body=b"a,b\n")
    async with _open(moto, bucket) as driver:
        assert await list_names(driver, "/") == {"raw"}
        folder = await driver.stat(Ref("/raw"))
        assert folder.type is ResourceType.CONTAINER
        info = await driver.stat(Ref("/raw/deep/data.csv"))
        assert info.size == 4 and info.etag
        assert (await driver.stat(Reference.by_id(info.id))).path == "/raw/deep/data.csv"
        moved = await driver.move(Ref("/raw/deep/data.csv"), Ref("/raw/data.csv"))
        assert moved.id == info.id
        assert (await driver.stat(Reference.by_id(info.id))).path == "/raw/data.csv"
        before = (await driver.stat(Ref("/raw"))).etag
        await write_bytes(driver, "/raw/new", b"n")
        assert (await driver.stat(Ref("/raw"))).etag != before


async def test_ids_survive_many_moves(moto: MotoServer) -> None:
    bucket = moto.new_bucket(versioned=False)
    async with _open(moto, bucket) as driver:
        await driver.create_container(Ref("/a"))
        info = await write_bytes(driver, "/a/f", b"x")
        path = "/a"
        for step in range(3):
            await driver.move(Ref(path), Ref(f"/m{step}"))
            path = f"/m{step}"
            assert (await driver.stat(Reference.by_id(info.id))).path == f"{path}/f"
        assert await read_all(driver, Reference.by_id(info.id)) == b"x"


async def test_large_objects_move_by_part_copy(moto: MotoServer) -> None:
    """Objects above S3's CopyObject limit move with UploadPartCopy (limit lowered here)."""
    bucket = moto.new_bucket(versioned=True)
    async with _open(moto, bucket, part_size="5MiB") as driver:
        driver.max_copy_size = 6 * MiB
        data = bytes(range(256)) * (13 * MiB // 256)
        first = await write_bytes(driver, "/big", data, chunk_size=MiB)
        await driver.set_metadata(Ref("/big"), {"k": "v"})
        moved = await driver.move(Ref("/big"), Ref("/moved"))
        assert moved.id == first.id
        assert await read_all(driver, "/moved") == data
        assert dict((await driver.stat(Ref("/moved"), metadata_keys=["*"])).metadata) == {"k": "v"}
        assert _uploads(moto, bucket) == []


# -- versioning, credentials and configuration -----------------------------------------------


async def test_unversioned_bucket_narrows_capabilities(moto: MotoServer) -> None:
    async with _open(moto, moto.new_bucket(versioned=False)) as driver:
        assert not driver.supports(Capability.VERSIONS)
        assert driver.supports(Capability.METADATA)
    async with _open(moto, moto.new_bucket(versioned=True)) as driver:
        assert driver.supports(Capability.VERSIONS)


async def test_missing_bucket_is_a_config_error_or_created(moto: MotoServer) -> None:
    with pytest.raises(ConfigError):
        async with _open(moto, "no-such-bucket-here"):
            pass
    async with _open(moto, "created-by-driver", create_bucket=True) as driver:
        assert (await driver.stat(Ref("/"))).type is ResourceType.CONTAINER


@pytest.fixture(scope="module")
def moto_with_auth() -> Iterator[MotoServer]:
    """A moto server that checks credentials from the first request (IAM auth on)."""
    server = start_moto(INITIAL_NO_AUTH_ACTION_COUNT="0")
    yield server
    stop_moto(server)


async def test_wrong_credentials_are_permission_denied(moto_with_auth: MotoServer) -> None:
    config = driver_config(moto_with_auth, "any-bucket")
    config.update(access_key_id="AKIAWRONGWRONGWRONG1", secret_access_key="wrong")
    with pytest.raises(PermissionDenied) as caught:
        async with S3Driver.from_config(config):
            pass
    assert "credentials" in caught.value.message
    assert "Traceback" not in caught.value.message


async def test_unreachable_endpoint_is_unavailable() -> None:
    config = {"endpoint": "http://127.0.0.1:9", "bucket": "b", "retries": 0,
              "access_key_id": "x", "secret_access_key": "y"}  # fmt: skip
    with pytest.raises(Unavailable):
        async with S3Driver.from_config(config):
            pass


def test_credentials_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORESTORE_S3_SECRET_ACCESS_KEY", "from-env")
    options = S3Driver.from_config({"bucket": "b", "access_key_id": "k"}).options
    assert options.secret_access_key == "from-env"


@pytest.mark.parametrize(
    "bad", [{}, {"bucket": ""}, {"bucket": "b", "part_size": "1MiB"}, {"bucket": "b", "nope": 1}]
)
def test_strict_options(bad: dict) -> None:
    with pytest.raises(ConfigError):
        S3Driver.from_config(bad)


def test_plugin_import_is_cheap() -> None:
    code = (
        "import sys, corestore_s3; from corestore.plugins import get_registry; "
        "assert get_registry().get('s3') is corestore_s3.S3Driver; "
        "assert 's3fs' not in sys.modules and 'botocore' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _CuttingProxy:
    """A loopback TCP proxy to moto that drops the connection once, after ``cut_after`` bytes
    of response: a real network fault in the middle of a GET body."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut_after: int | None = None
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, cut: bool) -> None:
            sent = 0
            try:
                while data := await src.read(65536):
                    if cut and self.cut_after is not None and sent + len(data) > self.cut_after:
                        dst.write(data[: self.cut_after - sent])
                        self.cut_after = None  # only once
                        raise ConnectionResetError
                    sent += len(data)
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))


async def test_read_resumes_after_a_dropped_connection(moto: MotoServer) -> None:
    bucket = moto.new_bucket(versioned=False)
    proxy = _CuttingProxy(int(moto.endpoint.rsplit(":", 1)[1]))
    endpoint = await proxy.start()
    config = driver_config(moto, bucket, part_size="5MiB")
    config["endpoint"] = endpoint
    try:
        async with S3Driver.from_config(config) as driver:
            data = bytes(range(256)) * (12 * MiB // 256)
            await write_bytes(driver, "/f", data, chunk_size=MiB)
            proxy.cut_after = 5 * MiB
            before = proxy.connections
            assert await read_all(driver, "/f") == data
            assert proxy.cut_after is None, "the connection was never cut"
            assert proxy.connections > before, "no new connection: the read did not resume"
    finally:
        assert proxy.server is not None
        proxy.server.close()


async def test_metadata_changes_do_not_add_versions(moto: MotoServer) -> None:
    async with _open(moto, moto.new_bucket(versioned=True)) as driver:
        await write_bytes(driver, "/f", b"v1")
        second = await write_bytes(driver, "/f", b"v2")
        await driver.set_metadata(Ref("/f"), {"k": "v"})
        await driver.unset_metadata(Ref("/f"), ["k"])
        versions = [v async for v in driver.list_versions(Ref("/f"))]
        assert [v.size for v in versions] == [2]
        assert (await driver.stat(Ref("/f"))).etag == second.etag
        assert await read_all(driver, "/f") == b"v2"


async def test_exclusive_creates_race_safely(moto: MotoServer) -> None:
    """Both writers pass the driver's own check; S3's If-None-Match decides at commit."""
    async with _open(moto, moto.new_bucket(versioned=False)) as driver:
        barrier = asyncio.Barrier(2)

        async def stream(tag: bytes) -> AsyncIterator[bytes]:
            await barrier.wait()  # both writers have checked that the file is absent
            yield tag * 10

        results = await asyncio.gather(
            driver.write(Ref("/race"), stream(b"a"), WriteOptions(if_not_exist=True)),
            driver.write(Ref("/race"), stream(b"b"), WriteOptions(if_not_exist=True)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], AlreadyExists), results
        winner = next(r for r in results if not isinstance(r, BaseException))
        assert await read_all(driver, "/race") in (b"a" * 10, b"b" * 10)
        assert (await driver.stat(Ref("/race"))).id == winner.id


async def test_conditional_multipart_commit(moto: MotoServer) -> None:
    """Another client creates (or changes) the file during a multipart upload: the commit fails."""
    bucket = moto.new_bucket(versioned=False)
    client = moto.client()

    async def stream(meanwhile: Callable[[], object]) -> AsyncIterator[bytes]:
        for index in range(11):
            if index == 6:
                await asyncio.to_thread(meanwhile)  # after the driver's checks, before commit
            yield b"m" * MiB

    async with _open(moto, bucket, part_size="5MiB") as driver:
        put = lambda: client.put_object(Bucket=bucket, Key="late", Body=b"other")  # noqa: E731
        with pytest.raises(AlreadyExists):
            await driver.write(Ref("/late"), stream(put), WriteOptions(if_not_exist=True))
        assert client.get_object(Bucket=bucket, Key="late")["Body"].read() == b"other"
        assert _uploads(moto, bucket) == []


async def test_names_s3_cannot_store_are_invalid(moto: MotoServer) -> None:
    async with _open(moto, moto.new_bucket(versioned=False)) as driver:
        with pytest.raises(InvalidPath):
            await write_bytes(driver, "/bad-\udcff-name", b"x")
        assert await list_names(driver, "/") == set()
