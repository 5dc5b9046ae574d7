"""Path containment and bad input: the right error, and nothing half-written on disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from corestore_posix import PosixDriver

from corestore.errors import (
    ConfigError,
    InvalidArgument,
    IsAFolder,
    MissingParent,
    PathEscape,
)
from corestore.resources import Reference
from corestore.testing import list_names, read_all, write_bytes

from .conftest import snapshot, uploads

Ref = Reference.of


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the driver root that no operation may reach."""
    folder = tmp_path / "outside"
    (folder / "dir").mkdir(parents=True)
    (folder / "secret.txt").write_bytes(b"secret")
    return folder


@pytest.fixture
async def planted(driver: PosixDriver, tmp_path: Path, outside: Path) -> Path:
    """Links planted in the tree (as a local user could) pointing out of it, and one inside."""
    await driver.create_container(Ref("/d"))
    await write_bytes(driver, "/d/inside.txt", b"inside")
    files = tmp_path / "root" / "files"
    (files / "d" / "link_dir").symlink_to(outside)
    (files / "d" / "link_file").symlink_to(outside / "secret.txt")
    (files / "d" / "link_inside").symlink_to(files / "d" / "inside.txt")
    return files


async def _stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    "path",
    ["/d/link_file", "/d/link_dir/secret.txt", "/d/link_dir", "/d/link_inside"],
)
async def test_planted_links_are_never_followed(
    driver: PosixDriver, planted: Path, outside: Path, tmp_path: Path, path: str
) -> None:
    before_outside, before_tree = snapshot(outside), snapshot(planted)
    with pytest.raises(PathEscape):
        await driver.stat(Ref(path))
    with pytest.raises(PathEscape):
        await read_all(driver, path)
    with pytest.raises(PathEscape):
        await write_bytes(driver, path, b"overwrite")
    with pytest.raises(PathEscape):
        await write_bytes(driver, path + "/new", b"new")
    with pytest.raises(PathEscape):
        await driver.create_container(Ref(path + "/new"))
    with pytest.raises(PathEscape):
        await driver.touch(Ref(path + "/new"))
    with pytest.raises(PathEscape):
        await list_names(driver, path)
    with pytest.raises(PathEscape):
        await driver.delete(Ref(path))
    with pytest.raises(PathEscape):
        await driver.move(Ref(path), Ref("/d/moved"))
    with pytest.raises(PathEscape):
        await driver.move(Ref("/d/inside.txt"), Ref(path + "/stolen"))
    with pytest.raises(PathEscape):
        await driver.set_metadata(Ref(path), {"k": "v"})
    assert snapshot(outside) == before_outside
    assert snapshot(planted) == before_tree
    assert uploads(tmp_path / "root") == []


async def test_listing_skips_links(driver: PosixDriver, planted: Path) -> None:
    assert await list_names(driver, "/d") == {"inside.txt"}


async def test_deleting_and_purging_a_folder_with_links_leaves_targets(
    driver: PosixDriver, planted: Path, outside: Path
) -> None:
    before = snapshot(outside)
    await driver.delete(Ref("/d"))
    await driver.purge_recycle(Ref("/"))
    assert snapshot(outside) == before
    assert await list_names(driver, "/") == set()


@pytest.mark.parametrize("path", ["/../x", "/a/../../x", "/..", "/a/b/../../../etc"])
async def test_dotdot_is_refused_before_touching_disk(
    driver: PosixDriver, tmp_path: Path, path: str
) -> None:
    files = tmp_path / "root" / "files"
    before = snapshot(tmp_path)
    with pytest.raises(PathEscape):
        await write_bytes(driver, path, b"x")
    with pytest.raises(PathEscape):
        await driver.create_container(Ref(path))
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "root" / "x").exists() and not (files.parent.parent / "x").exists()


async def test_absolute_host_path_is_a_tree_path(driver: PosixDriver, tmp_path: Path) -> None:
    """A host path given as a driver path names a place in the tree, never the host file."""
    host = tmp_path / "host.txt"
    with pytest.raises(MissingParent):
        await write_bytes(driver, str(host), b"x")
    assert not host.exists()
    assert snapshot(tmp_path / "root" / "files") == {}


async def test_failed_writes_leave_nothing(driver: PosixDriver, tmp_path: Path) -> None:
    root = tmp_path / "root"
    await driver.create_container(Ref("/folder"))
    await write_bytes(driver, "/folder/keep", b"keep")
    before = snapshot(root / "files")
    with pytest.raises(MissingParent):
        await write_bytes(driver, "/missing/f", b"x")
    with pytest.raises(IsAFolder):
        await write_bytes(driver, "/folder", b"x")
    with pytest.raises(InvalidArgument):
        await write_bytes(driver, "/folder/keep", b"12345", expected_size=4)

    async def cut() -> AsyncIterator[bytes]:
        yield b"a" * (3 << 20)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await driver.write(Ref("/folder/keep"), cut())
    assert snapshot(root / "files") == before
    assert uploads(root) == []


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'rooot'"):
        PosixDriver.from_config({"root": str(tmp_path), "rooot": "x"})
    with pytest.raises(ConfigError, match="root"):
        PosixDriver.from_config({})
    with pytest.raises(ConfigError, match="checksum"):
        PosixDriver.from_config({"root": str(tmp_path), "checksum": "crc64"})
    with pytest.raises(ConfigError, match="chunk_size"):
        PosixDriver.from_config({"root": str(tmp_path), "chunk_size": 0})
    with pytest.raises(ConfigError, match="fsync"):
        PosixDriver.from_config({"root": str(tmp_path), "fsync": "yes"})


def test_config_sizes_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORESTORE_POSIX_QUOTA", "2MiB")
    driver = PosixDriver.from_config({"root": str(tmp_path), "chunk_size": "64KiB"})
    assert driver.options.chunk_size == 64 * 1024
    assert driver.options.quota == 2 << 20
    assert driver.options.checksum_type == "adler32"


async def test_cancelled_write_leaves_nothing(driver: PosixDriver, tmp_path: Path) -> None:
    await write_bytes(driver, "/f", b"old")
    started = asyncio.Event()

    async def hanging() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * (1 << 20)
        started.set()
        await asyncio.Event().wait()
        yield b""

    task = asyncio.ensure_future(driver.write(Ref("/f"), hanging()))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await read_all(driver, "/f") == b"old"
    assert uploads(tmp_path / "root") == []
