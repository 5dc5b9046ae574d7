"""State that must survive a restart, a crash, or a change behind the driver's back."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from corestore_posix import PosixDriver

from corestore.errors import InsufficientStorage, NotFound
from corestore.plugins import get_registry
from corestore.resources import (
    VIEWER_PERMISSIONS,
    Grant,
    Grantee,
    GranteeType,
    Lock,
    Quota,
    Reference,
)
from corestore.testing import read_all, write_bytes

from .conftest import uploads

Ref = Reference.of
BOB = Grantee(GranteeType.USER, "bob")


async def test_everything_survives_a_restart(tmp_path: Path) -> None:
    config = {"root": str(tmp_path / "root")}
    lock = Lock("lock-1", user="alice", app_name="app", expiration=time.time() + 600)
    async with PosixDriver.from_config(config) as driver:
        folder = await driver.create_container(Ref("/d"))
        await write_bytes(driver, "/d/f", b"v1")
        written = await write_bytes(driver, "/d/f", b"v2")
        await driver.set_metadata(Ref("/d/f"), {"k": "v"})
        await driver.set_lock(Ref("/d/f"), lock)
        await driver.add_grant(Ref("/d"), Grant(BOB, VIEWER_PERMISSIONS, creator="alice"))
        await write_bytes(driver, "/d/gone", b"recycled")
        await driver.delete(Ref("/d/gone"))
        before = await driver.stat(Ref("/d/f"), metadata_keys=["*"])
        quota = await driver.get_quota(Ref("/"))

    async with PosixDriver.from_config(config) as driver:
        after = await driver.stat(Ref("/d/f"), metadata_keys=["*"])
        assert after == before
        assert after.id == written.id and dict(after.metadata) == {"k": "v"}
        assert after.checksum is not None and after.lock is not None
        assert (after.lock.lock_id, after.lock.expiration) == (lock.lock_id, lock.expiration)
        assert (await driver.stat(Reference.by_id(folder.id))).path == "/d"
        (version,) = [v async for v in driver.list_versions(Ref("/d/f"))]
        assert b"".join([c async for c in driver.open_version(Ref("/d/f"), version.key)]) == b"v1"
        assert [g.grantee async for g in driver.list_grants(Ref("/d"))] == [BOB]
        (item,) = [i async for i in driver.list_recycle(Ref("/"))]
        assert item.path == "/d/gone"
        await driver.restore_recycle_item(Ref("/"), item.key)
        assert await read_all(driver, "/d/gone") == b"recycled"
        assert (await driver.get_quota(Ref("/"))).used == quota.used + len(b"recycled")


async def test_crash_leftovers_are_cleared_on_open(tmp_path: Path) -> None:
    config = {"root": str(tmp_path / "root")}
    async with PosixDriver.from_config(config):
        pass
    (tmp_path / "root" / ".corestore" / "uploads" / "half-written").write_bytes(b"x" * 100)
    (tmp_path / "root" / ".corestore" / "uploads" / "purge-x").mkdir()
    async with PosixDriver.from_config(config):
        assert uploads(tmp_path / "root") == []


async def test_outside_edit_changes_etag_and_drops_checksum(
    driver: PosixDriver, tmp_path: Path
) -> None:
    info = await write_bytes(driver, "/f", b"driver wrote this")
    assert info.checksum is not None
    host = tmp_path / "root" / "files" / "f"
    host.write_bytes(b"edited behind its back")
    os.utime(host, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    edited = await driver.stat(Ref("/f"))
    assert edited.id == info.id
    assert edited.etag != info.etag
    assert edited.checksum is None  # unknown rather than wrong


async def test_files_put_in_behind_the_driver_get_stable_ids(
    driver: PosixDriver, tmp_path: Path
) -> None:
    (tmp_path / "root" / "files" / "dropped").mkdir()
    (tmp_path / "root" / "files" / "dropped" / "a.txt").write_bytes(b"a")
    listed = [i async for i in driver.list_container(Ref("/dropped"))]
    assert [i.name for i in listed] == ["a.txt"]
    assert (await driver.stat(Ref("/dropped/a.txt"))).id == listed[0].id
    moved = await driver.move(Ref("/dropped"), Ref("/kept"))
    assert (await driver.stat(Ref("/kept/a.txt"))).id == listed[0].id
    assert moved.path == "/kept"


async def test_quota_option_is_enforced(tmp_path: Path) -> None:
    async with PosixDriver.from_config({"root": str(tmp_path / "r"), "quota": 1000}) as driver:
        await write_bytes(driver, "/a", b"x" * 600)
        assert await driver.get_quota(Ref("/")) == Quota(total=1000, used=600)
        with pytest.raises(InsufficientStorage):
            await write_bytes(driver, "/b", b"x" * 500)
        with pytest.raises(InsufficientStorage):
            await write_bytes(driver, "/b", b"x" * 500, expected_size=500)
        with pytest.raises(NotFound):
            await driver.stat(Ref("/b"))
        await write_bytes(driver, "/a", b"x" * 900)  # an overwrite frees the old bytes first
        await driver.delete(Ref("/a"))
        assert (await driver.get_quota(Ref("/"))).used == 0
        assert uploads(tmp_path / "r") == []


async def test_quota_without_option_reports_the_filesystem(driver: PosixDriver) -> None:
    await driver.create_container(Ref("/d"))
    await write_bytes(driver, "/d/f", b"x" * 1234)
    quota = await driver.get_quota(Ref("/d"))
    assert quota.total > 0 and quota.used == 1234
    await driver.move(Ref("/d"), Ref("/e"))
    assert (await driver.get_quota(Ref("/"))).used == 1234
    assert (await driver.stat(Ref("/e"))).size == 1234


def test_registered_through_the_entry_point() -> None:
    assert get_registry().get("posix") is PosixDriver
