"""Tests of the optional capabilities. Each test skips, saying why, where a driver lacks one."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from corestore.driver import Capability
from corestore.errors import AlreadyExists, LockConflict, Locked, NotFound
from corestore.resources import (
    EDITOR_PERMISSIONS,
    VIEWER_PERMISSIONS,
    Grant,
    Grantee,
    GranteeType,
    Lock,
    LockType,
    Reference,
    ResourceType,
)
from corestore.testing.fixtures import DriverFixtures, list_names, read_all, requires, write_bytes

__all__ = ["GrantTests", "LockTests", "MetadataTests", "RecycleTests", "VersionTests"]

Ref = Reference.of


class MetadataTests(DriverFixtures):
    """Arbitrary metadata (CS3 Set/UnsetArbitraryMetadata, WebDAV dead properties)."""

    @requires(Capability.METADATA)
    async def test_set_and_stat_metadata(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.set_metadata(Ref(f"{base}/f"), {"color": "blue", "ünï": "çødé ✓"})
        info = await driver.stat(Ref(f"{base}/f"), metadata_keys=["color", "ünï"])
        assert dict(info.metadata) == {"color": "blue", "ünï": "çødé ✓"}
        only = await driver.stat(Ref(f"{base}/f"), metadata_keys=["color"])
        assert dict(only.metadata) == {"color": "blue"}
        everything = await driver.stat(Ref(f"{base}/f"), metadata_keys=["*"])
        assert dict(everything.metadata) == {"color": "blue", "ünï": "çødé ✓"}

    @requires(Capability.METADATA)
    async def test_set_replaces_and_unset_removes(self, driver: Any, base: str) -> None:
        await driver.create_container(Ref(f"{base}/d"))
        await driver.set_metadata(Ref(f"{base}/d"), {"a": "1", "b": "2"})
        await driver.set_metadata(Ref(f"{base}/d"), {"a": "3"})
        await driver.unset_metadata(Ref(f"{base}/d"), ["b", "never-set"])
        info = await driver.stat(Ref(f"{base}/d"), metadata_keys=["*"])
        assert dict(info.metadata) == {"a": "3"}

    @requires(Capability.METADATA)
    async def test_metadata_follows_moves(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.set_metadata(Ref(f"{base}/f"), {"k": "v"})
        await driver.move(Ref(f"{base}/f"), Ref(f"{base}/g"))
        info = await driver.stat(Ref(f"{base}/g"), metadata_keys=["k"])
        assert dict(info.metadata) == {"k": "v"}

    @requires(Capability.METADATA)
    async def test_metadata_on_missing_is_not_found(self, driver: Any, base: str) -> None:
        with pytest.raises(NotFound):
            await driver.set_metadata(Ref(f"{base}/missing"), {"k": "v"})

    @requires(Capability.METADATA)
    async def test_metadata_in_listing(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.set_metadata(Ref(f"{base}/f"), {"k": "v"})
        infos = [i async for i in driver.list_container(Ref(base), metadata_keys=["k"])]
        assert [dict(i.metadata) for i in infos] == [{"k": "v"}]


class LockTests(DriverFixtures):
    """Locks with ids, holders and expiry (CS3 SetLock/GetLock/RefreshLock/Unlock)."""

    @staticmethod
    def lock(lock_id: str = "lock-1", app: str = "kit", user: str = "alice", ttl: float = 60) -> Lock:
        return Lock(lock_id=lock_id, type=LockType.WRITE, user=user, app_name=app, expiration=time.time() + ttl)

    @requires(Capability.LOCKS)
    async def test_set_and_get_lock(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        lock = self.lock()
        await driver.set_lock(Ref(f"{base}/f"), lock)
        got = await driver.get_lock(Ref(f"{base}/f"))
        assert (got.lock_id, got.type, got.user, got.app_name) == ("lock-1", LockType.WRITE, "alice", "kit")
        assert got.expiration == pytest.approx(lock.expiration, abs=1)
        info = await driver.stat(Ref(f"{base}/f"))
        assert info.lock is not None and info.lock.lock_id == "lock-1"

    @requires(Capability.LOCKS)
    async def test_conflicting_lock(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.set_lock(Ref(f"{base}/f"), self.lock())
        with pytest.raises(LockConflict):
            await driver.set_lock(Ref(f"{base}/f"), self.lock("lock-2", app="other"))
        assert (await driver.get_lock(Ref(f"{base}/f"))).lock_id == "lock-1"

    @requires(Capability.LOCKS)
    async def test_lock_guards_writes(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"v1")
        await driver.set_lock(Ref(f"{base}/f"), self.lock())
        with pytest.raises(Locked):
            await write_bytes(driver, f"{base}/f", b"v2")
        with pytest.raises(Locked):
            await write_bytes(driver, f"{base}/f", b"v2", lock_id="wrong")
        with pytest.raises(Locked):
            await driver.delete(Ref(f"{base}/f"))
        with pytest.raises(Locked):
            await driver.move(Ref(f"{base}/f"), Ref(f"{base}/g"))
        if driver.supports(Capability.METADATA):
            with pytest.raises(Locked):
                await driver.set_metadata(Ref(f"{base}/f"), {"k": "v"})
        assert await read_all(driver, f"{base}/f") == b"v1"
        await write_bytes(driver, f"{base}/f", b"v2", lock_id="lock-1")
        assert await read_all(driver, f"{base}/f") == b"v2"
        await driver.delete(Ref(f"{base}/f"), lock_id="lock-1")

    @requires(Capability.LOCKS)
    async def test_refresh_lock(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.set_lock(Ref(f"{base}/f"), self.lock(ttl=60))
        await driver.refresh_lock(Ref(f"{base}/f"), self.lock(ttl=600))
        got = await driver.get_lock(Ref(f"{base}/f"))
        assert got.expiration == pytest.approx(time.time() + 600, abs=5)
        with pytest.raises(LockConflict):
            await driver.refresh_lock(Ref(f"{base}/f"), self.lock(app="thief"))
        await driver.refresh_lock(Ref(f"{base}/f"), self.lock("lock-new"), existing_lock_id="lock-1")
        assert (await driver.get_lock(Ref(f"{base}/f"))).lock_id == "lock-new"

    @requires(Capability.LOCKS)
    async def test_unlock(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.set_lock(Ref(f"{base}/f"), self.lock())
        with pytest.raises(LockConflict):
            await driver.unlock(Ref(f"{base}/f"), self.lock(app="thief"))
        with pytest.raises(LockConflict):
            await driver.unlock(Ref(f"{base}/f"), self.lock("other-id"))
        await driver.unlock(Ref(f"{base}/f"), self.lock())
        with pytest.raises(NotFound):
            await driver.get_lock(Ref(f"{base}/f"))
        with pytest.raises(LockConflict):
            await driver.unlock(Ref(f"{base}/f"), self.lock())
        await write_bytes(driver, f"{base}/f", b"free again")

    @requires(Capability.LOCKS)
    async def test_expired_lock_counts_as_none(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.set_lock(Ref(f"{base}/f"), self.lock(ttl=0.5))
        await asyncio.sleep(0.8)
        with pytest.raises(NotFound):
            await driver.get_lock(Ref(f"{base}/f"))
        await write_bytes(driver, f"{base}/f", b"after expiry")
        await driver.set_lock(Ref(f"{base}/f"), self.lock("lock-2"))

    @requires(Capability.LOCKS)
    async def test_lock_on_missing_is_not_found(self, driver: Any, base: str) -> None:
        with pytest.raises(NotFound):
            await driver.set_lock(Ref(f"{base}/missing"), self.lock())
        with pytest.raises(NotFound):
            await driver.get_lock(Ref(f"{base}/missing"))

    @requires(Capability.LOCKS)
    async def test_unlocked_resource_has_no_lock(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        with pytest.raises(NotFound):
            await driver.get_lock(Ref(f"{base}/f"))


class VersionTests(DriverFixtures):
    """Versions kept on overwrite (CS3 ListFileVersions/RestoreFileVersion)."""

    @requires(Capability.VERSIONS)
    async def test_overwrite_keeps_versions(self, driver: Any, base: str) -> None:
        for content in (b"v1", b"v2 longer", b"v3"):
            await write_bytes(driver, f"{base}/f", content)
        versions = [v async for v in driver.list_versions(Ref(f"{base}/f"))]
        assert len(versions) == 2
        contents = [await self._read_version(driver, f"{base}/f", v.key) for v in versions]
        assert contents == [b"v2 longer", b"v1"], "newest first"
        assert [v.size for v in versions] == [9, 2]
        assert versions[0].mtime >= versions[1].mtime

    @requires(Capability.VERSIONS)
    async def test_restore_version(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"original")
        current = await write_bytes(driver, f"{base}/f", b"changed")
        (old,) = [v async for v in driver.list_versions(Ref(f"{base}/f"))]
        await driver.restore_version(Ref(f"{base}/f"), old.key)
        assert await read_all(driver, f"{base}/f") == b"original"
        info = await driver.stat(Ref(f"{base}/f"))
        assert info.id == current.id and info.etag != current.etag
        kept = [await self._read_version(driver, f"{base}/f", v.key) async for v in driver.list_versions(Ref(f"{base}/f"))]
        assert b"changed" in kept

    @requires(Capability.VERSIONS)
    async def test_keep_version_false(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"v1")
        await write_bytes(driver, f"{base}/f", b"v2", keep_version=False)
        assert [v async for v in driver.list_versions(Ref(f"{base}/f"))] == []

    @requires(Capability.VERSIONS)
    async def test_versions_follow_moves(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"v1")
        await write_bytes(driver, f"{base}/f", b"v2")
        await driver.move(Ref(f"{base}/f"), Ref(f"{base}/g"))
        (version,) = [v async for v in driver.list_versions(Ref(f"{base}/g"))]
        assert await self._read_version(driver, f"{base}/g", version.key) == b"v1"

    @requires(Capability.VERSIONS)
    async def test_unknown_version(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"v1")
        with pytest.raises(NotFound):
            await driver.restore_version(Ref(f"{base}/f"), "no-such-version")
        with pytest.raises(NotFound):
            await self._read_version(driver, f"{base}/f", "no-such-version")
        with pytest.raises(NotFound):
            [v async for v in driver.list_versions(Ref(f"{base}/missing"))]

    @staticmethod
    async def _read_version(driver: Any, path: str, key: str) -> bytes:
        return b"".join([bytes(c) async for c in driver.open_version(Ref(path), key)])


class RecycleTests(DriverFixtures):
    """The recycle bin (CS3 ListRecycle/RestoreRecycleItem/PurgeRecycle)."""

    @staticmethod
    async def items_below(driver: Any, base: str) -> dict[str, Any]:
        return {
            item.path: item
            async for item in driver.list_recycle(Ref("/"))
            if item.path.startswith(base + "/")
        }

    @requires(Capability.RECYCLE)
    async def test_delete_goes_to_recycle_and_restores(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"recyclable")
        await driver.delete(Ref(f"{base}/f"))
        items = await self.items_below(driver, base)
        assert set(items) == {f"{base}/f"}
        item = items[f"{base}/f"]
        assert item.type is ResourceType.FILE and item.size == 10
        assert item.deletion_time == pytest.approx(time.time(), abs=60)
        restored = await driver.restore_recycle_item(Ref("/"), item.key)
        assert restored.path == f"{base}/f"
        assert await read_all(driver, f"{base}/f") == b"recyclable"
        assert await self.items_below(driver, base) == {}

    @requires(Capability.RECYCLE)
    async def test_restore_folder_tree(self, driver: Any, base: str) -> None:
        await driver.create_container(Ref(f"{base}/d"))
        await write_bytes(driver, f"{base}/d/f", b"inside")
        await driver.delete(Ref(f"{base}/d"))
        item = (await self.items_below(driver, base))[f"{base}/d"]
        assert item.type is ResourceType.CONTAINER
        await driver.restore_recycle_item(Ref("/"), item.key)
        assert await read_all(driver, f"{base}/d/f") == b"inside"

    @requires(Capability.RECYCLE)
    async def test_restore_elsewhere(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"moved back")
        await driver.delete(Ref(f"{base}/f"))
        item = (await self.items_below(driver, base))[f"{base}/f"]
        await driver.create_container(Ref(f"{base}/other"))
        await driver.restore_recycle_item(Ref("/"), item.key, restore_to=Ref(f"{base}/other/g"))
        assert await read_all(driver, f"{base}/other/g") == b"moved back"

    @requires(Capability.RECYCLE)
    async def test_restore_onto_taken_path(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"old")
        await driver.delete(Ref(f"{base}/f"))
        await write_bytes(driver, f"{base}/f", b"new")
        item = (await self.items_below(driver, base))[f"{base}/f"]
        with pytest.raises(AlreadyExists):
            await driver.restore_recycle_item(Ref("/"), item.key)
        assert await read_all(driver, f"{base}/f") == b"new"
        assert f"{base}/f" in await self.items_below(driver, base)

    @requires(Capability.RECYCLE)
    async def test_purge(self, driver: Any, base: str) -> None:
        for name in ("a", "b", "c"):
            await write_bytes(driver, f"{base}/{name}", name.encode())
            await driver.delete(Ref(f"{base}/{name}"))
        items = await self.items_below(driver, base)
        await driver.purge_recycle(Ref("/"), items[f"{base}/a"].key)
        assert set(await self.items_below(driver, base)) == {f"{base}/b", f"{base}/c"}
        with pytest.raises(NotFound):
            await driver.restore_recycle_item(Ref("/"), items[f"{base}/a"].key)
        await driver.purge_recycle(Ref("/"))
        assert await self.items_below(driver, base) == {}

    @requires(Capability.RECYCLE)
    async def test_unknown_recycle_key(self, driver: Any, base: str) -> None:
        with pytest.raises(NotFound):
            await driver.restore_recycle_item(Ref("/"), "no-such-key")
        with pytest.raises(NotFound):
            await driver.purge_recycle(Ref("/"), "no-such-key")

    @requires(Capability.RECYCLE)
    async def test_recycled_names_do_not_show(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.delete(Ref(f"{base}/f"))
        assert await list_names(driver, base) == set()
        await write_bytes(driver, f"{base}/f", b"reused name")
        assert await read_all(driver, f"{base}/f") == b"reused name"


class GrantTests(DriverFixtures):
    """Grants on resources (CS3 Add/Update/Remove/Deny/ListGrants)."""

    bob = Grantee(GranteeType.USER, "bob")
    staff = Grantee(GranteeType.GROUP, "staff")

    @staticmethod
    async def grants(driver: Any, path: str) -> dict[Grantee, Grant]:
        return {g.grantee: g async for g in driver.list_grants(Ref(path))}

    @requires(Capability.GRANTS)
    async def test_add_list_update_remove(self, driver: Any, base: str) -> None:
        await driver.create_container(Ref(f"{base}/d"))
        await driver.add_grant(Ref(f"{base}/d"), Grant(self.bob, VIEWER_PERMISSIONS, creator="alice"))
        await driver.add_grant(Ref(f"{base}/d"), Grant(self.staff, EDITOR_PERMISSIONS))
        grants = await self.grants(driver, f"{base}/d")
        assert set(grants) == {self.bob, self.staff}
        assert grants[self.bob].permissions == VIEWER_PERMISSIONS
        assert grants[self.staff].permissions == EDITOR_PERMISSIONS
        await driver.update_grant(Ref(f"{base}/d"), Grant(self.bob, EDITOR_PERMISSIONS))
        assert (await self.grants(driver, f"{base}/d"))[self.bob].permissions == EDITOR_PERMISSIONS
        await driver.remove_grant(Ref(f"{base}/d"), self.bob)
        assert set(await self.grants(driver, f"{base}/d")) == {self.staff}

    @requires(Capability.GRANTS)
    async def test_grant_errors(self, driver: Any, base: str) -> None:
        await write_bytes(driver, f"{base}/f", b"x")
        await driver.add_grant(Ref(f"{base}/f"), Grant(self.bob, VIEWER_PERMISSIONS))
        with pytest.raises(AlreadyExists):
            await driver.add_grant(Ref(f"{base}/f"), Grant(self.bob, EDITOR_PERMISSIONS))
        with pytest.raises(NotFound):
            await driver.update_grant(Ref(f"{base}/f"), Grant(self.staff, EDITOR_PERMISSIONS))
        with pytest.raises(NotFound):
            await driver.remove_grant(Ref(f"{base}/f"), self.staff)
        with pytest.raises(NotFound):
            await driver.add_grant(Ref(f"{base}/missing"), Grant(self.bob, VIEWER_PERMISSIONS))

    @requires(Capability.GRANTS)
    async def test_deny_grant_and_expiry_kept(self, driver: Any, base: str) -> None:
        await driver.create_container(Ref(f"{base}/d"))
        expires = time.time() + 3600
        await driver.add_grant(Ref(f"{base}/d"), Grant(self.bob, frozenset(), expiration=expires))
        grant = (await self.grants(driver, f"{base}/d"))[self.bob]
        assert grant.permissions == frozenset()
        assert grant.expiration == pytest.approx(expires, abs=1)

    @requires(Capability.GRANTS)
    async def test_grants_follow_moves(self, driver: Any, base: str) -> None:
        await driver.create_container(Ref(f"{base}/d"))
        await driver.add_grant(Ref(f"{base}/d"), Grant(self.bob, VIEWER_PERMISSIONS))
        await driver.move(Ref(f"{base}/d"), Ref(f"{base}/e"))
        assert set(await self.grants(driver, f"{base}/e")) == {self.bob}
