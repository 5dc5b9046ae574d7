"""Tests of the required core of the driver contract. Every driver must pass all of them.

The assertions follow the MUST clauses of CS3 ``provider_api.proto`` as expressed by the error
tree: a missing resource raises :class:`NotFound` (``CODE_NOT_FOUND``), a taken name
:class:`AlreadyExists`, and so on.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

from corestore.driver import StorageDriver
from corestore.errors import (
    AlreadyExists,
    ChecksumMismatch,
    ETagMismatch,
    FailedPrecondition,
    InvalidArgument,
    InvalidPath,
    IsAFolder,
    MissingParent,
    MoveIntoItself,
    NotAFolder,
    NotFound,
    PathEscape,
    PermissionDenied,
)
from corestore.resources import ByteRange, Checksum, Reference, ResourceType, WriteOptions
from corestore.streams import new_hasher
from corestore.testing.fixtures import DriverFixtures, list_names, read_all, write_bytes

__all__ = ["CoreTests"]

Ref = Reference.of

UNICODE_NAMES = [
    "Ünïcödé ñame.txt",
    "日本語のファイル.txt",
    "emoji 🎉 party.bin",
    "spaces  and\ttab.txt",
    "percent%20and+plus.txt",
    "semi;colon#hash?&amp=.txt",
    "'quotes\" and `ticks`",
]


class CoreTests(DriverFixtures):
    """Namespace, data, ids, etags, errors and atomicity of the required core."""

    # -- stat and folders ---------------------------------------------------------------------

    async def test_stat_root_is_a_container(self, driver: StorageDriver) -> None:
        info = await driver.stat(Ref("/"))
        assert info.type is ResourceType.CONTAINER
        assert info.path == "/"
        assert info.id

    async def test_create_container_and_stat(self, driver: StorageDriver, base: str) -> None:
        info = await driver.create_container(Ref(f"{base}/folder"))
        assert info.type is ResourceType.CONTAINER
        assert info.path == f"{base}/folder"
        assert info.name == "folder"
        stat = await driver.stat(Ref(f"{base}/folder"))
        assert stat.id == info.id
        assert stat.type is ResourceType.CONTAINER
        assert stat.etag and stat.mtime > 0
        assert stat.parent_id == (await driver.stat(Ref(base))).id

    async def test_create_container_twice_is_already_exists(self, driver: StorageDriver, base: str) -> None:
        await driver.create_container(Ref(f"{base}/folder"))
        with pytest.raises(AlreadyExists):
            await driver.create_container(Ref(f"{base}/folder"))

    async def test_create_container_over_file_is_already_exists(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/file", b"x")
        with pytest.raises(AlreadyExists):
            await driver.create_container(Ref(f"{base}/file"))

    async def test_create_container_missing_parent(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(MissingParent):
            await driver.create_container(Ref(f"{base}/missing/child"))
        assert await list_names(driver, base) == set()

    async def test_create_container_below_a_file(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/file", b"x")
        with pytest.raises((MissingParent, NotAFolder)):
            await driver.create_container(Ref(f"{base}/file/child"))

    async def test_stat_missing_is_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(NotFound):
            await driver.stat(Ref(f"{base}/nothing-here"))

    async def test_stat_below_a_file_is_not_found(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/file", b"x")
        with pytest.raises((NotFound, NotAFolder)):
            await driver.stat(Ref(f"{base}/file/child"))

    # -- listing ------------------------------------------------------------------------------

    async def test_list_container(self, driver: StorageDriver, base: str) -> None:
        await driver.create_container(Ref(f"{base}/sub"))
        await write_bytes(driver, f"{base}/a.txt", b"aaa")
        await driver.touch(Ref(f"{base}/empty"))
        infos = {info.name: info async for info in driver.list_container(Ref(base))}
        assert set(infos) == {"sub", "a.txt", "empty"}
        assert infos["sub"].type is ResourceType.CONTAINER
        assert infos["a.txt"].type is ResourceType.FILE and infos["a.txt"].size == 3
        assert infos["empty"].size == 0
        assert infos["a.txt"].path == f"{base}/a.txt"
        assert len({info.id for info in infos.values()}) == 3

    async def test_list_many_children(self, driver: StorageDriver, base: str) -> None:
        names = {f"file-{i:03d}" for i in range(60)}
        await asyncio.gather(*(driver.touch(Ref(f"{base}/{name}")) for name in names))
        assert await list_names(driver, base) == names

    async def test_list_empty_container(self, driver: StorageDriver, base: str) -> None:
        assert await list_names(driver, base) == set()

    async def test_list_a_file_is_not_a_folder(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/file", b"x")
        with pytest.raises(NotAFolder):
            await list_names(driver, f"{base}/file")

    async def test_list_missing_is_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(NotFound):
            await list_names(driver, f"{base}/missing")

    # -- touch --------------------------------------------------------------------------------

    async def test_touch_creates_empty_file(self, driver: StorageDriver, base: str) -> None:
        info = await driver.touch(Ref(f"{base}/new"))
        assert info.type is ResourceType.FILE and info.size == 0
        assert await read_all(driver, f"{base}/new") == b""

    async def test_touch_existing_is_already_exists(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"keep")
        with pytest.raises(AlreadyExists):
            await driver.touch(Ref(f"{base}/f"))
        assert await read_all(driver, f"{base}/f") == b"keep"

    async def test_touch_missing_parent(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(MissingParent):
            await driver.touch(Ref(f"{base}/missing/new"))

    # -- write and read -----------------------------------------------------------------------

    @pytest.mark.parametrize("size", [0, 1, 4095, 65536, 65537, 1 << 20, (1 << 20) + 3, 3 * (1 << 20) - 1])
    async def test_write_read_roundtrip(self, driver: StorageDriver, base: str, size: int) -> None:
        data = bytes((i * 31 + size) % 251 for i in range(size))
        info = await write_bytes(driver, f"{base}/blob", data, chunk_size=7919)
        assert info.size == size
        assert info.type is ResourceType.FILE
        assert await read_all(driver, f"{base}/blob") == data
        assert (await driver.stat(Ref(f"{base}/blob"))).size == size

    async def test_checksum_is_of_the_content(self, driver: StorageDriver, base: str) -> None:
        data = b"checksum me" * 1000
        written = await write_bytes(driver, f"{base}/c", data)
        stat = await driver.stat(Ref(f"{base}/c"))
        for info in (written, stat):
            if info.checksum is None:
                continue  # a driver may not know checksums; if it reports one, it must be right
            hasher = new_hasher(info.checksum.type)
            hasher.update(data)
            assert info.checksum.value.lower() == hasher.hexdigest()

    async def test_empty_chunks_are_harmless(self, driver: StorageDriver, base: str) -> None:
        async def stream() -> AsyncIterator[bytes]:
            for part in (b"", b"ab", b"", b"", b"cd", b""):
                yield part

        await driver.write(Ref(f"{base}/f"), stream())
        assert await read_all(driver, f"{base}/f") == b"abcd"

    async def test_overwrite_replaces_content_and_keeps_id(self, driver: StorageDriver, base: str) -> None:
        first = await write_bytes(driver, f"{base}/f", b"first version")
        second = await write_bytes(driver, f"{base}/f", b"second")
        assert await read_all(driver, f"{base}/f") == b"second"
        assert second.id == first.id
        assert second.etag != first.etag
        assert (await driver.stat(Ref(f"{base}/f"))).size == 6

    async def test_etag_changes_with_same_size_content(self, driver: StorageDriver, base: str) -> None:
        first = await write_bytes(driver, f"{base}/f", b"aaaa")
        second = await write_bytes(driver, f"{base}/f", b"bbbb")
        assert first.etag != second.etag
        assert (await driver.stat(Ref(f"{base}/f"))).etag == second.etag

    async def test_etag_propagates_to_ancestors(self, driver: StorageDriver, base: str) -> None:
        await driver.create_container(Ref(f"{base}/a"))
        await driver.create_container(Ref(f"{base}/a/b"))
        await write_bytes(driver, f"{base}/a/b/f", b"one")

        async def etags() -> tuple[str, str, str]:
            return tuple([(await driver.stat(Ref(p))).etag for p in (base, f"{base}/a", f"{base}/a/b")])  # type: ignore[return-value]

        before = await etags()
        await write_bytes(driver, f"{base}/a/b/f", b"two")
        after_write = await etags()
        assert all(x != y for x, y in zip(before, after_write, strict=True)), "overwrite"
        await driver.touch(Ref(f"{base}/a/b/new"))
        after_touch = await etags()
        assert all(x != y for x, y in zip(after_write, after_touch, strict=True)), "create"
        await driver.delete(Ref(f"{base}/a/b/new"))
        after_delete = await etags()
        assert all(x != y for x, y in zip(after_touch, after_delete, strict=True)), "delete"

    async def test_read_missing_is_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(NotFound):
            await read_all(driver, f"{base}/missing")

    async def test_read_a_folder_is_a_folder(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(IsAFolder):
            await read_all(driver, base)

    async def test_write_onto_folder_is_a_folder(self, driver: StorageDriver, base: str) -> None:
        await driver.create_container(Ref(f"{base}/folder"))
        await driver.touch(Ref(f"{base}/folder/inside"))
        with pytest.raises(IsAFolder):
            await write_bytes(driver, f"{base}/folder", b"not a folder")
        assert (await driver.stat(Ref(f"{base}/folder"))).type is ResourceType.CONTAINER
        assert await list_names(driver, f"{base}/folder") == {"inside"}

    async def test_write_missing_parent(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(MissingParent):
            await write_bytes(driver, f"{base}/missing/f", b"x")
        assert await list_names(driver, base) == set()

    # -- ranges -------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("start", "length"),
        [(0, 1), (0, 10), (5, 10), (1000, 5000), (99_990, None), (0, None), (50_000, 10**9)],
    )
    async def test_read_range(self, driver: StorageDriver, base: str, start: int, length: int | None) -> None:
        data = bytes(i % 256 for i in range(100_000))
        await write_bytes(driver, f"{base}/r", data, chunk_size=30_000)
        got = await read_all(driver, f"{base}/r", ByteRange(start, length))
        end = len(data) if length is None else start + length
        assert got == data[start:end]

    async def test_read_range_past_end_is_empty(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/r", b"0123456789")
        assert await read_all(driver, f"{base}/r", ByteRange(10)) == b""
        assert await read_all(driver, f"{base}/r", ByteRange(50, 5)) == b""

    # -- conditions and verification ----------------------------------------------------------

    async def test_client_checksum_verified(self, driver: StorageDriver, base: str) -> None:
        data = b"verified content"
        good = Checksum("sha1", hashlib.sha1(data).hexdigest())
        await write_bytes(driver, f"{base}/f", data, checksum=good)
        bad = Checksum("sha1", hashlib.sha1(b"other").hexdigest())
        with pytest.raises(ChecksumMismatch):
            await write_bytes(driver, f"{base}/f", b"tampered content", checksum=bad)
        assert await read_all(driver, f"{base}/f") == data

    async def test_md5_and_adler32_checksums_verified(self, driver: StorageDriver, base: str) -> None:
        data = b"x" * 70_000
        for kind in ("md5", "adler32"):
            hasher = new_hasher(kind)
            hasher.update(data)
            await write_bytes(driver, f"{base}/{kind}", data, checksum=Checksum(kind, hasher.hexdigest()))
            with pytest.raises(ChecksumMismatch):
                await write_bytes(driver, f"{base}/{kind}", b"y", checksum=Checksum(kind, hasher.hexdigest()))
            assert await read_all(driver, f"{base}/{kind}") == data

    async def test_short_stream_is_rejected(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"old")
        with pytest.raises(InvalidArgument):
            await write_bytes(driver, f"{base}/f", b"12345", expected_size=10)
        with pytest.raises(InvalidArgument):
            await write_bytes(driver, f"{base}/f", b"12345", expected_size=3)
        assert await read_all(driver, f"{base}/f") == b"old"
        with pytest.raises(InvalidArgument):
            await write_bytes(driver, f"{base}/new", b"12345", expected_size=10)
        with pytest.raises(NotFound):
            await driver.stat(Ref(f"{base}/new"))

    async def test_if_match(self, driver: StorageDriver, base: str) -> None:
        info = await write_bytes(driver, f"{base}/f", b"v1")
        with pytest.raises(ETagMismatch):
            await write_bytes(driver, f"{base}/f", b"v2", if_match="not-the-etag")
        assert await read_all(driver, f"{base}/f") == b"v1"
        await write_bytes(driver, f"{base}/f", b"v2", if_match=info.etag)
        assert await read_all(driver, f"{base}/f") == b"v2"

    async def test_if_not_exist(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"v1", if_not_exist=True)
        with pytest.raises(AlreadyExists):
            await write_bytes(driver, f"{base}/f", b"v2", if_not_exist=True)
        assert await read_all(driver, f"{base}/f") == b"v1"

    # -- atomicity ----------------------------------------------------------------------------

    async def test_failed_stream_leaves_old_content(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"precious")

        async def broken() -> AsyncIterator[bytes]:
            yield b"partial " * 1000
            yield b"more " * 1000
            raise ConnectionResetError("client went away")

        with pytest.raises(Exception):  # noqa: B017 - the driver may wrap the cause
            await driver.write(Ref(f"{base}/f"), broken())
        assert await read_all(driver, f"{base}/f") == b"precious"
        assert await list_names(driver, base) == {"f"}
        with pytest.raises(Exception):  # noqa: B017
            await driver.write(Ref(f"{base}/new"), broken())
        assert await list_names(driver, base) == {"f"}

    async def test_reader_sees_old_content_during_write(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"old content")
        halfway = asyncio.Event()
        resume = asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield b"new " * 10_000
            halfway.set()
            await resume.wait()
            yield b"tail"

        writer = asyncio.ensure_future(driver.write(Ref(f"{base}/f"), slow()))
        await asyncio.wait_for(halfway.wait(), 30)
        assert await read_all(driver, f"{base}/f") == b"old content"
        resume.set()
        await writer
        assert await read_all(driver, f"{base}/f") == b"new " * 10_000 + b"tail"

    async def test_concurrent_writers_never_tear(self, driver: StorageDriver, base: str) -> None:
        size, chunk = 1 << 20, 64 * 1024
        path = f"{base}/contended"

        async def writer(marker: int) -> None:
            async def stream() -> AsyncIterator[bytes]:
                block = bytes([marker]) * chunk
                for _ in range(size // chunk):
                    yield block
                    await asyncio.sleep(0)

            await driver.write(Ref(path), stream())

        await asyncio.gather(*(writer(m) for m in (1, 2, 3, 4)))
        data = await read_all(driver, path)
        assert len(data) == size
        assert data == bytes([data[0]]) * size, "bytes from different writers were mixed"
        assert await list_names(driver, base) == {"contended"}

    # -- delete -------------------------------------------------------------------------------

    async def test_delete_file(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.delete(Ref(f"{base}/f"))
        with pytest.raises(NotFound):
            await driver.stat(Ref(f"{base}/f"))

    async def test_delete_folder_recursively(self, driver: StorageDriver, base: str) -> None:
        await driver.create_container(Ref(f"{base}/d"))
        await driver.create_container(Ref(f"{base}/d/e"))
        await write_bytes(driver, f"{base}/d/e/f", b"x")
        await driver.delete(Ref(f"{base}/d"))
        assert await list_names(driver, base) == set()
        with pytest.raises(NotFound):
            await driver.stat(Ref(f"{base}/d/e/f"))

    async def test_delete_missing_is_not_found(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(NotFound):
            await driver.delete(Ref(f"{base}/missing"))

    async def test_delete_root_is_refused(self, driver: StorageDriver) -> None:
        with pytest.raises(PermissionDenied):
            await driver.delete(Ref("/"))
        assert (await driver.stat(Ref("/"))).type is ResourceType.CONTAINER

    # -- move ---------------------------------------------------------------------------------

    async def test_rename_file_keeps_id_and_content(self, driver: StorageDriver, base: str) -> None:
        before = await write_bytes(driver, f"{base}/a", b"content")
        moved = await driver.move(Ref(f"{base}/a"), Ref(f"{base}/b"))
        assert moved.id == before.id
        assert moved.path == f"{base}/b"
        assert await read_all(driver, f"{base}/b") == b"content"
        assert await list_names(driver, base) == {"b"}

    async def test_move_folder_keeps_ids_below(self, driver: StorageDriver, base: str) -> None:
        folder = await driver.create_container(Ref(f"{base}/src"))
        await driver.create_container(Ref(f"{base}/src/deep"))
        child = await write_bytes(driver, f"{base}/src/deep/f", b"deep")
        await driver.create_container(Ref(f"{base}/dst"))
        await driver.move(Ref(f"{base}/src"), Ref(f"{base}/dst/moved"))
        assert (await driver.stat(Ref(f"{base}/dst/moved"))).id == folder.id
        moved_child = await driver.stat(Ref(f"{base}/dst/moved/deep/f"))
        assert moved_child.id == child.id
        assert await read_all(driver, f"{base}/dst/moved/deep/f") == b"deep"
        by_id = await driver.stat(Reference.by_id(child.id))
        assert by_id.path == f"{base}/dst/moved/deep/f"

    async def test_move_onto_existing_is_already_exists(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/a", b"a")
        await write_bytes(driver, f"{base}/b", b"b")
        with pytest.raises(AlreadyExists):
            await driver.move(Ref(f"{base}/a"), Ref(f"{base}/b"))
        assert await read_all(driver, f"{base}/a") == b"a"
        assert await read_all(driver, f"{base}/b") == b"b"

    async def test_move_missing_source(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(NotFound):
            await driver.move(Ref(f"{base}/missing"), Ref(f"{base}/b"))

    async def test_move_missing_destination_parent(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/a", b"a")
        with pytest.raises(MissingParent):
            await driver.move(Ref(f"{base}/a"), Ref(f"{base}/missing/b"))
        assert await read_all(driver, f"{base}/a") == b"a"

    @pytest.mark.parametrize("target", ["", "/sub", "/sub/deeper"])
    async def test_move_folder_into_itself(self, driver: StorageDriver, base: str, target: str) -> None:
        await driver.create_container(Ref(f"{base}/d"))
        await driver.create_container(Ref(f"{base}/d/sub"))
        with pytest.raises(MoveIntoItself):
            await driver.move(Ref(f"{base}/d"), Ref(f"{base}/d{target}/d"))
        assert await list_names(driver, f"{base}/d") == {"sub"}

    async def test_move_folder_onto_itself(self, driver: StorageDriver, base: str) -> None:
        await driver.create_container(Ref(f"{base}/d"))
        with pytest.raises((MoveIntoItself, AlreadyExists, FailedPrecondition)):
            await driver.move(Ref(f"{base}/d"), Ref(f"{base}/d"))
        assert (await driver.stat(Ref(f"{base}/d"))).type is ResourceType.CONTAINER

    # -- ids and references -------------------------------------------------------------------

    async def test_stat_by_id(self, driver: StorageDriver, base: str) -> None:
        info = await write_bytes(driver, f"{base}/f", b"x")
        by_id = await driver.stat(Reference.by_id(info.id))
        assert by_id.id == info.id
        assert by_id.path == f"{base}/f"

    async def test_relative_reference_from_id(self, driver: StorageDriver, base: str) -> None:
        folder = await driver.create_container(Ref(f"{base}/d"))
        await driver.create_container(Ref(f"{base}/d/e"))
        child = await write_bytes(driver, f"{base}/d/e/f", b"x")
        info = await driver.stat(Reference.by_id(folder.id, "./e/f"))
        assert info.id == child.id
        await write_bytes(driver, Reference.by_id(folder.id, "./g"), b"via id")
        assert await read_all(driver, f"{base}/d/g") == b"via id"
        assert await list_names(driver, Reference.by_id(folder.id)) == {"e", "g"}

    async def test_unknown_id_is_not_found(self, driver: StorageDriver) -> None:
        with pytest.raises(NotFound):
            await driver.stat(Reference.by_id("no-such-id-00000000"))

    async def test_ids_are_unique(self, driver: StorageDriver, base: str) -> None:
        infos = [await write_bytes(driver, f"{base}/f{i}", b"same") for i in range(5)]
        infos.append(await driver.create_container(Ref(f"{base}/d")))
        assert len({info.id for info in infos}) == len(infos)

    async def test_id_of_deleted_resource_is_not_found(self, driver: StorageDriver, base: str) -> None:
        info = await write_bytes(driver, f"{base}/f", b"x")
        await driver.delete(Ref(f"{base}/f"))
        with pytest.raises(NotFound):
            await driver.stat(Reference.by_id(info.id))

    # -- names --------------------------------------------------------------------------------

    @pytest.mark.parametrize("name", UNICODE_NAMES)
    async def test_unicode_and_odd_names(self, driver: StorageDriver, base: str, name: str) -> None:
        data = name.encode()
        info = await write_bytes(driver, f"{base}/{name}", data)
        assert info.name == name
        assert await list_names(driver, base) == {name}
        assert await read_all(driver, f"{base}/{name}") == data
        await driver.create_container(Ref(f"{base}/dir {name}"))
        moved = await driver.move(Ref(f"{base}/{name}"), Ref(f"{base}/dir {name}/{name}"))
        assert moved.path == f"{base}/dir {name}/{name}"

    async def test_long_name(self, driver: StorageDriver, base: str) -> None:
        name = "n" * 200 + "é" * 27  # 254 bytes in UTF-8
        await write_bytes(driver, f"{base}/{name}", b"long")
        assert await list_names(driver, base) == {name}

    async def test_overlong_name_is_invalid(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(InvalidPath):
            await write_bytes(driver, f"{base}/{'n' * 256}", b"x")
        assert await list_names(driver, base) == set()

    # -- escapes ------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "path", ["/..", "/../etc/passwd", "/{base}/../../x", "/{base}/sub/../../../x", "/{base}/.."]
    )
    async def test_escape_by_dotdot(self, driver: StorageDriver, base: str, path: str) -> None:
        path = path.replace("/{base}", base)
        with pytest.raises(PathEscape):
            await driver.stat(Ref(path))
        with pytest.raises(PathEscape):
            await write_bytes(driver, path + "/evil", b"x")
        with pytest.raises(PathEscape):
            await driver.create_container(Ref(path + "/evil"))
        with pytest.raises(PathEscape):
            await driver.delete(Ref(path))

    async def test_escape_by_dotdot_in_move(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        with pytest.raises(PathEscape):
            await driver.move(Ref(f"{base}/f"), Ref(f"{base}/../../f"))
        assert await list_names(driver, base) == {"f"}

    async def test_escape_from_id_reference(self, driver: StorageDriver, base: str) -> None:
        folder = await driver.create_container(Ref(f"{base}/d"))
        with pytest.raises(PathEscape):
            await driver.stat(Reference.by_id(folder.id, "./../../../etc/passwd"))

    async def test_absolute_host_paths_stay_inside(self, driver: StorageDriver) -> None:
        # "//etc/passwd" is "/etc/passwd" of the driver's namespace, never the host's.
        with pytest.raises(NotFound):
            await driver.stat(Ref("//etc/passwd"))

    async def test_nul_byte_is_invalid(self, driver: StorageDriver, base: str) -> None:
        with pytest.raises(InvalidPath):
            await write_bytes(driver, f"{base}/a\x00b", b"x")

    # -- quota --------------------------------------------------------------------------------

    async def test_quota(self, driver: StorageDriver, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x" * 1000)
        quota = await driver.get_quota(Ref(base))
        assert quota.total >= 0 and quota.used >= 0
        if quota.total:
            assert quota.used <= quota.total

    # -- write options are keyword-compatible -------------------------------------------------

    async def test_default_write_options(self, driver: StorageDriver, base: str) -> None:
        info = await driver.write(Ref(f"{base}/f"), _one(b"abc"), WriteOptions())
        assert info.size == 3


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
