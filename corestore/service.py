"""The storage service: every storage operation once, with routing and access control.

The gRPC gateway and provider servicers and the HTTP data path all call this class; none of them
talks to a driver directly. It speaks corestore dataclasses only (protobuf stays in
``corestore.grpc``), and it:

* routes references through the :class:`~corestore.mounts.MountTable`;
* enforces homes: below the home mount, ``<mount>/<username>`` belongs to that user, and anyone
  else needs a grant on the resource or one of its ancestors inside that home (checked through the
  driver's :class:`~corestore.driver.SupportsGrants`); the home mount root itself is read-only;
* fills what drivers leave open in :class:`ResourceInfo` (global path, owner, permissions, lock);
* answers :class:`~corestore.errors.Unimplemented` when a driver lacks a capability.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corestore.driver import Capability, StorageDriver
from corestore.errors import (
    AlreadyExists,
    ETagMismatch,
    InvalidArgument,
    IsAFolder,
    MissingParent,
    NotAFolder,
    NotFound,
    PermissionDenied,
    Unimplemented,
)
from corestore.metrics import current_driver
from corestore.mounts import Mount, MountTable, Routed
from corestore.paths import join_path, split_path
from corestore.resources import (
    ALL_PERMISSIONS,
    Checksum,
    FileVersion,
    Grant,
    Grantee,
    GranteeType,
    Lock,
    Permission,
    Quota,
    RecycleItem,
    Reference,
    ResourceInfo,
    ResourceType,
    WriteOptions,
    guess_mime_type,
)
from corestore.users import User

__all__ = ["Entry", "StorageService", "Target", "WireRef"]

#: What anyone may do on the home mount's root (``/home``): look, never write.
_HOME_ROOT_PERMISSIONS = frozenset(
    {Permission.STAT, Permission.LIST_CONTAINER, Permission.GET_QUOTA, Permission.GET_PATH}
)
_NONE: frozenset[Permission] = frozenset()


@dataclass(frozen=True)
class WireRef:
    """A CS3 reference taken apart: an absolute global path, or an id plus a relative path."""

    path: str = ""
    storage_id: str = ""
    opaque_id: str = ""

    @property
    def is_id(self) -> bool:
        return bool(self.storage_id or self.opaque_id)


@dataclass(frozen=True)
class Target:
    """A reference resolved for a user: where it lives and what the user may do there."""

    routed: Routed | None  # None: a virtual folder above the mounts
    path: str  # the global path
    permissions: frozenset[Permission]
    owner: str | None = None

    @property
    def mount(self) -> Mount:
        assert self.routed is not None
        return self.routed.mount

    @property
    def driver(self) -> StorageDriver:
        return self.routed.driver

    @property
    def ref(self) -> Reference:
        assert self.routed is not None
        return self.routed.ref

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(f"no {permission.value} permission on {self.path}")


@dataclass(frozen=True)
class Entry:
    """A resource as the wire layers need it: its info in global terms, and its storage id."""

    storage_id: str
    info: ResourceInfo


def _capability(driver: StorageDriver, capability: Capability) -> Any:
    if not driver.supports(capability):
        raise Unimplemented(f"the {driver.name} storage does not support {capability.value}")
    return driver


def _parent_ref(ref: Reference, segments: tuple[str, ...]) -> Reference:
    """The parent of a reference that names a path (absolute, or relative to an id)."""
    if ref.resource_id is None:
        return Reference.of(join_path(segments[:-1]))
    relative = split_path(ref.path)[:-1]
    return Reference.by_id(ref.resource_id, "./" + "/".join(relative) if relative else ".")


class StorageService:
    def __init__(self, mounts: MountTable) -> None:
        self.mounts = mounts
        self._started = time.time()

    # -- resolution and access ----------------------------------------------------------------

    async def _driver_segments(self, routed: Routed) -> tuple[str, ...]:
        ref = routed.ref
        if ref.resource_id is None:
            return split_path(ref.path)
        base = await routed.driver.stat(Reference.by_id(ref.resource_id))
        return split_path(base.path) + split_path(ref.path)

    async def _grant_permissions(
        self, user: User, driver: StorageDriver, segments: tuple[str, ...]
    ) -> frozenset[Permission]:
        """The permissions the nearest grants give ``user`` on a path below someone's home."""
        if not driver.supports(Capability.GRANTS):
            return _NONE
        groups = set(user.groups)
        now = time.time()  # expired grants count as none
        for depth in range(len(segments), 0, -1):
            try:
                grants = [
                    g async for g in driver.list_grants(Reference.of(join_path(segments[:depth])))
                ]
            except NotFound:
                continue  # the resource does not exist yet: its parent decides
            mine = [
                g
                for g in grants
                if (g.expiration is None or g.expiration > now)
                and (
                    (g.grantee.type is GranteeType.USER and g.grantee.id == user.username)
                    or (g.grantee.type is GranteeType.GROUP and g.grantee.id in groups)
                )
            ]
            if mine:
                if any(not g.permissions for g in mine):
                    return _NONE  # a deny grant wins
                return frozenset().union(*(g.permissions for g in mine))
        return _NONE

    async def resolve(self, user: User, ref: WireRef) -> Target:
        """Route a reference and work out the user's permissions on it."""
        routed = self.mounts.route(ref.path, ref.storage_id, ref.opaque_id)
        if routed is None:
            current_driver.set("-")
            return Target(None, join_path(split_path(ref.path)), _HOME_ROOT_PERMISSIONS)
        current_driver.set(routed.driver.name)
        mount = routed.mount
        if ref.is_id or mount.home:
            segments = await self._driver_segments(routed)
        else:
            segments = split_path(routed.ref.path)
        path = join_path(mount.segments + segments)
        if not mount.home:
            scoped = getattr(
                mount.driver, "permissions_for", None
            )  # e.g. the OCM received-shares mount
            return Target(
                routed, path, ALL_PERMISSIONS if scoped is None else scoped(user.username, segments)
            )
        if not segments:
            return Target(routed, path, _HOME_ROOT_PERMISSIONS)
        owner = segments[0]
        if owner == user.username:
            return Target(routed, path, ALL_PERMISSIONS, owner)
        perms = await self._grant_permissions(user, routed.driver, segments)
        return Target(routed, path, perms, owner)

    async def _target(self, user: User, ref: WireRef, permission: Permission) -> Target:
        target = await self.resolve(user, ref)
        target.require(permission)
        return target

    async def _writable(self, user: User, ref: WireRef, permission: Permission) -> Target:
        target = await self._target(user, ref, permission)
        if target.routed is None:
            raise PermissionDenied(f"{target.path} is a virtual folder above the mounts")
        return target

    def _entry(self, target: Target, info: ResourceInfo, path: str | None = None) -> Entry:
        """Put a driver's info into global terms and fill what the driver left open."""
        mount = target.mount
        global_path = path or mount.global_path(info.path)
        owner = info.owner
        if owner is None and mount.home:
            segments = split_path(global_path)[len(mount.segments) :]
            owner = segments[0] if segments else None
        permissions = (
            target.permissions
            if info.permissions is None
            else info.permissions & target.permissions
        )
        return Entry(
            mount.id,
            dataclasses.replace(
                info,
                path=global_path,
                owner=owner,
                permissions=permissions,
                mime_type=info.mime_type or guess_mime_type(info.name, info.is_container),
            ),
        )

    def _virtual_entry(self, path: str) -> Entry:
        children = self.mounts.virtual_children(path)
        etag = hashlib.sha1(("\0".join([path, *children])).encode()).hexdigest()
        info = ResourceInfo(
            id=path,
            path=path,
            type=ResourceType.CONTAINER,
            size=0,
            mtime=self._started,
            etag=f'"{etag}"',
            mime_type=guess_mime_type(path, True),
            permissions=_HOME_ROOT_PERMISSIONS,
        )
        return Entry("", info)

    # -- namespace ----------------------------------------------------------------------------

    async def stat(self, user: User, ref: WireRef, metadata_keys: Sequence[str] = ()) -> Entry:
        target = await self._target(user, ref, Permission.STAT)
        if target.routed is None:
            return self._virtual_entry(target.path)
        info = await target.driver.stat(target.ref, metadata_keys=metadata_keys)
        if info.lock is None and not info.is_container and target.driver.supports(Capability.LOCKS):
            try:
                info = dataclasses.replace(info, lock=await target.driver.get_lock(target.ref))
            except NotFound:
                pass
        return self._entry(target, info, target.path)

    async def list_container(
        self, user: User, ref: WireRef, metadata_keys: Sequence[str] = ()
    ) -> AsyncIterator[Entry]:
        target = await self._target(user, ref, Permission.LIST_CONTAINER)
        if target.routed is None:
            for name in self.mounts.virtual_children(target.path):
                child = join_path(split_path(target.path) + (name,))
                try:
                    yield await self.stat(user, WireRef(path=child))
                except (NotFound, PermissionDenied):
                    continue
            return
        async for info in target.driver.list_container(target.ref, metadata_keys=metadata_keys):
            yield self._entry(target, info, join_path(split_path(target.path) + (info.name,)))

    async def create_container(self, user: User, ref: WireRef) -> Entry:
        target = await self._writable(user, ref, Permission.CREATE_CONTAINER)
        return self._entry(target, await target.driver.create_container(target.ref), target.path)

    async def touch(self, user: User, ref: WireRef, lock_id: str | None = None) -> Entry:
        target = await self._writable(user, ref, Permission.INITIATE_FILE_UPLOAD)
        return self._entry(
            target, await target.driver.touch(target.ref, lock_id=lock_id), target.path
        )

    async def delete(self, user: User, ref: WireRef, lock_id: str | None = None) -> None:
        target = await self._writable(user, ref, Permission.DELETE)
        if target.owner and split_path(target.path) == target.mount.segments + (target.owner,):
            raise PermissionDenied("a home folder cannot be deleted")
        await target.driver.delete(target.ref, lock_id=lock_id)

    async def move(
        self, user: User, source: WireRef, destination: WireRef, lock_id: str | None = None
    ) -> Entry:
        src = await self._writable(user, source, Permission.MOVE)
        dst = await self._writable(user, destination, Permission.MOVE)
        if src.mount is not dst.mount:
            raise Unimplemented("moving between different storages is not supported")
        if src.owner and split_path(src.path) == src.mount.segments + (src.owner,):
            raise PermissionDenied("a home folder cannot be moved")
        info = await src.driver.move(src.ref, dst.ref, lock_id=lock_id)
        return self._entry(dst, info, dst.path)

    async def get_path(self, user: User, ref: WireRef) -> str:
        return (await self._target(user, ref, Permission.GET_PATH)).path

    async def get_quota(self, user: User, ref: WireRef) -> Quota:
        target = await self._target(user, ref, Permission.GET_QUOTA)
        if target.routed is None:
            return Quota(total=0, used=0)
        return await target.driver.get_quota(target.ref)

    # -- homes --------------------------------------------------------------------------------

    def home_path(self, user: User) -> str:
        if self.mounts.home is None:
            raise Unimplemented("no home mount is configured")
        return join_path(self.mounts.home.segments + (user.username,))

    async def create_home(self, user: User) -> None:
        """Create the user's home if it is missing (Reva does this on login too)."""
        home = self.mounts.home
        if home is None:
            raise Unimplemented("no home mount is configured")
        current_driver.set(home.driver.name)
        try:
            await home.driver.create_container(Reference.of(join_path((user.username,))))
        except AlreadyExists:
            pass

    # -- metadata -----------------------------------------------------------------------------

    async def set_metadata(
        self, user: User, ref: WireRef, metadata: Mapping[str, str], lock_id: str | None
    ) -> None:
        target = await self._writable(user, ref, Permission.INITIATE_FILE_UPLOAD)
        await _capability(target.driver, Capability.METADATA).set_metadata(
            target.ref, metadata, lock_id=lock_id
        )

    async def unset_metadata(
        self, user: User, ref: WireRef, keys: Sequence[str], lock_id: str | None
    ) -> None:
        target = await self._writable(user, ref, Permission.INITIATE_FILE_UPLOAD)
        await _capability(target.driver, Capability.METADATA).unset_metadata(
            target.ref, keys, lock_id=lock_id
        )

    # -- locks --------------------------------------------------------------------------------

    @staticmethod
    def _held_by(user: User, lock: Lock) -> Lock:
        """CS3 clients often leave the lock's user empty; the caller is the holder then."""
        return lock if lock.user else dataclasses.replace(lock, user=user.username)

    async def set_lock(self, user: User, ref: WireRef, lock: Lock) -> None:
        target = await self._writable(user, ref, Permission.INITIATE_FILE_UPLOAD)
        if not lock.lock_id:
            raise InvalidArgument("a lock needs a lock_id")
        lock = dataclasses.replace(
            self._held_by(user, lock), creation_time=lock.creation_time or time.time()
        )
        await _capability(target.driver, Capability.LOCKS).set_lock(target.ref, lock)

    async def get_lock(self, user: User, ref: WireRef) -> Lock:
        target = await self._writable(user, ref, Permission.STAT)
        return await _capability(target.driver, Capability.LOCKS).get_lock(target.ref)

    async def refresh_lock(
        self, user: User, ref: WireRef, lock: Lock, existing_lock_id: str | None
    ) -> None:
        target = await self._writable(user, ref, Permission.INITIATE_FILE_UPLOAD)
        await _capability(target.driver, Capability.LOCKS).refresh_lock(
            target.ref, self._held_by(user, lock), existing_lock_id=existing_lock_id or None
        )

    async def unlock(self, user: User, ref: WireRef, lock: Lock) -> None:
        target = await self._writable(user, ref, Permission.INITIATE_FILE_UPLOAD)
        await _capability(target.driver, Capability.LOCKS).unlock(
            target.ref, self._held_by(user, lock)
        )

    # -- versions -----------------------------------------------------------------------------

    async def list_versions(self, user: User, ref: WireRef) -> list[FileVersion]:
        target = await self._writable(user, ref, Permission.LIST_FILE_VERSIONS)
        driver = _capability(target.driver, Capability.VERSIONS)
        return [v async for v in driver.list_versions(target.ref)]

    async def restore_version(
        self, user: User, ref: WireRef, key: str, lock_id: str | None
    ) -> None:
        target = await self._writable(user, ref, Permission.RESTORE_FILE_VERSION)
        await _capability(target.driver, Capability.VERSIONS).restore_version(
            target.ref, key, lock_id=lock_id
        )

    # -- recycle bin --------------------------------------------------------------------------

    @staticmethod
    def _in_home(target: Target, item: RecycleItem) -> bool:
        """Whether a recycled item came from the home ``target`` is in (always, outside homes).

        A home mount has one recycle bin for all homes; each user only sees, restores and
        purges what was deleted from their own home.
        """
        if not target.owner:
            return True
        home = join_path((target.owner,))
        return item.path == home or item.path.startswith(home + "/")

    async def list_recycle(
        self,
        user: User,
        ref: WireRef,
        key: str = "",
        from_ts: float | None = None,
        to_ts: float | None = None,
    ) -> AsyncIterator[tuple[Mount, RecycleItem]]:
        target = await self._writable(user, ref, Permission.LIST_RECYCLE)
        driver = _capability(target.driver, Capability.RECYCLE)
        async for item in driver.list_recycle(target.ref):
            if key and item.key != key:
                continue
            if (from_ts and item.deletion_time < from_ts) or (to_ts and item.deletion_time > to_ts):
                continue
            if self._in_home(target, item):
                yield (
                    target.mount,
                    dataclasses.replace(item, path=target.mount.global_path(item.path)),
                )

    async def _own_recycle_keys(self, target: Target, key: str | None) -> list[str]:
        """The keys of the items ``target``'s home may touch (``key`` alone, or all of them).

        :raises NotFound: ``key`` is not an item of that home.
        """
        driver = _capability(target.driver, Capability.RECYCLE)
        keys = [
            item.key
            async for item in driver.list_recycle(target.ref)
            if (key is None or item.key == key) and self._in_home(target, item)
        ]
        if key is not None and not keys:
            raise NotFound(f"no recycle bin item {key}")
        return keys

    async def restore_recycle_item(
        self, user: User, ref: WireRef, key: str, restore_to: WireRef | None = None
    ) -> Entry:
        target = await self._writable(user, ref, Permission.RESTORE_RECYCLE_ITEM)
        restore: Target | None = None
        if restore_to is not None:
            restore = await self._writable(user, restore_to, Permission.CREATE_CONTAINER)
            if restore.mount is not target.mount:
                raise Unimplemented("restoring into a different storage is not supported")
        driver = _capability(target.driver, Capability.RECYCLE)
        if target.owner:
            await self._own_recycle_keys(target, key)
        info = await driver.restore_recycle_item(
            target.ref, key, restore_to=restore.ref if restore else None
        )
        return self._entry(target, info)

    async def purge_recycle(self, user: User, ref: WireRef, key: str | None = None) -> None:
        """Purge one item, or the whole bin: in a home, only that home's items."""
        target = await self._writable(user, ref, Permission.PURGE_RECYCLE)
        driver = _capability(target.driver, Capability.RECYCLE)
        if not target.owner:
            await driver.purge_recycle(target.ref, key or None)
            return
        for own in await self._own_recycle_keys(target, key or None):
            await driver.purge_recycle(target.ref, own)

    # -- grants -------------------------------------------------------------------------------

    async def add_grant(self, user: User, ref: WireRef, grant: Grant) -> None:
        target = await self._writable(user, ref, Permission.ADD_GRANT)
        if grant.creator is None:
            grant = dataclasses.replace(grant, creator=user.username)
        await _capability(target.driver, Capability.GRANTS).add_grant(target.ref, grant)

    async def update_grant(self, user: User, ref: WireRef, grant: Grant) -> None:
        target = await self._writable(user, ref, Permission.UPDATE_GRANT)
        await _capability(target.driver, Capability.GRANTS).update_grant(target.ref, grant)

    async def deny_grant(self, user: User, ref: WireRef, grantee: Grantee) -> None:
        """A deny is a grant with no permissions; it replaces any grant the grantee had here."""
        target = await self._writable(user, ref, Permission.DENY_GRANT)
        driver = _capability(target.driver, Capability.GRANTS)
        deny = Grant(grantee=grantee, permissions=frozenset(), creator=user.username)
        try:
            await driver.add_grant(target.ref, deny)
        except AlreadyExists:
            await driver.update_grant(target.ref, deny)

    async def remove_grant(self, user: User, ref: WireRef, grantee: Grantee) -> None:
        target = await self._writable(user, ref, Permission.REMOVE_GRANT)
        await _capability(target.driver, Capability.GRANTS).remove_grant(target.ref, grantee)

    async def list_grants(self, user: User, ref: WireRef) -> list[Grant]:
        target = await self._writable(user, ref, Permission.LIST_GRANTS)
        return [
            g async for g in _capability(target.driver, Capability.GRANTS).list_grants(target.ref)
        ]

    # -- data transfer ------------------------------------------------------------------------

    async def prepare_upload(
        self, user: User, ref: WireRef, options: WriteOptions
    ) -> tuple[Target, dict[str, Any]]:
        """Check an upload can go ahead and describe its target for a transfer token.

        Refuses early what would fail later anyway: a folder in the way, a missing parent, an
        existing file with ``if_not_exist``, a stale ``if_match``.
        """
        target = await self._writable(user, ref, Permission.INITIATE_FILE_UPLOAD)
        driver, dref = target.driver, target.ref
        try:
            info: ResourceInfo | None = await driver.stat(dref)
        except NotFound:
            info = None
            await self._check_parent(target)
        if info is not None:
            if info.is_container:
                raise IsAFolder(f"{target.path} is a folder")
            if options.if_not_exist:
                raise AlreadyExists(f"{target.path} exists")
        if options.if_match and (
            info is None or info.etag.strip('"') != options.if_match.strip('"')
        ):
            raise ETagMismatch(f"{target.path} has changed")
        claims: dict[str, Any] = {
            "sid": target.mount.id,
            "path": dref.path,
            "rid": dref.resource_id,
            "gpath": target.path,
            "size": options.expected_size,
            "lock_id": options.lock_id,
            "if_match": options.if_match,
            "if_not_exist": options.if_not_exist,
            "mtime": options.mtime,
            "checksum": str(options.checksum) if options.checksum else None,
        }
        return target, claims

    @staticmethod
    async def _check_parent(target: Target) -> None:
        """A new file needs an existing parent folder.

        :raises MissingParent: there is none. :raises NotAFolder: it is a file.
        """
        dref = target.ref
        if dref.resource_id is not None and not split_path(dref.path):
            return  # an id names an existing resource, or nothing at all (stat said NotFound)
        segments = split_path(target.path)[len(target.mount.segments) :]
        try:
            parent = await target.driver.stat(_parent_ref(dref, segments))
        except NotFound:
            raise MissingParent(f"parent folder of {target.path} does not exist") from None
        if not parent.is_container:
            raise NotAFolder(f"parent of {target.path} is a file")

    async def prepare_download(
        self, user: User, ref: WireRef, version_key: str | None = None
    ) -> dict[str, Any]:
        target = await self._writable(user, ref, Permission.INITIATE_FILE_DOWNLOAD)
        info = await target.driver.stat(target.ref)
        if info.is_container:
            raise IsAFolder(f"{target.path} is a folder")
        if version_key:
            _capability(target.driver, Capability.VERSIONS)
        return {
            "sid": target.mount.id,
            "path": target.ref.path,
            "rid": target.ref.resource_id,
            "gpath": target.path,
            "version": version_key or None,
        }

    def transfer_target(self, claims: Mapping[str, Any]) -> Routed:
        """The routed reference a transfer token names."""
        mount = self.mounts.by_id(str(claims.get("sid", "")))
        current_driver.set(mount.driver.name)
        rid = claims.get("rid")
        ref = (
            Reference.by_id(rid, claims.get("path") or ".") if rid else Reference.of(claims["path"])
        )
        return Routed(mount, ref)

    @staticmethod
    def write_options(claims: Mapping[str, Any], **overrides: Any) -> WriteOptions:
        """The write options a transfer token carries, with what the HTTP request adds."""
        checksum = None
        if claims.get("checksum"):
            kind, _, value = str(claims["checksum"]).partition(":")
            checksum = Checksum(kind, value)
        values = {
            "expected_size": claims.get("size"),
            "checksum": checksum,
            "if_match": claims.get("if_match"),
            "if_not_exist": bool(claims.get("if_not_exist")),
            "lock_id": claims.get("lock_id"),
            "mtime": claims.get("mtime"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return WriteOptions(**values)
