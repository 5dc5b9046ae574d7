"""Translation between CS3 protobuf messages and corestore dataclasses: the only place for it.

Inbound, messages become :class:`~corestore.service.WireRef`, :class:`Lock`, :class:`Grant`...
and invalid values (unknown enum numbers, a lock without id) raise
:class:`~corestore.errors.InvalidArgument`. Outbound, resource ids are qualified with the mount's
storage id: ``ResourceId{storage_id=mount id, opaque_id=driver id, space_id=mount id}``.
"""

from __future__ import annotations

import math

from cs3.identity.group.v1beta1 import resources_pb2 as group_pb
from cs3.identity.user.v1beta1 import resources_pb2 as user_pb
from cs3.storage.provider.v1beta1 import resources_pb2 as spr
from cs3.types.v1beta1 import types_pb2 as types_pb

from corestore.errors import InvalidArgument
from corestore.resources import (
    Checksum,
    FileVersion,
    Grant,
    Grantee,
    GranteeType,
    Lock,
    LockType,
    Permission,
    RecycleItem,
    ResourceType,
)
from corestore.service import Entry, WireRef
from corestore.users import User

__all__ = [
    "checksum_from_opaque",
    "entry_to_pb",
    "file_version_to_pb",
    "grant_from_pb",
    "grant_to_pb",
    "grantee_from_pb",
    "lock_from_pb",
    "lock_to_pb",
    "opaque_get",
    "recycle_item_to_pb",
    "ref_from_pb",
    "ref_to_pb",
    "timestamp",
    "user_to_pb",
]

_LOCK_TYPES = {
    spr.LOCK_TYPE_SHARED: LockType.SHARED,
    spr.LOCK_TYPE_WRITE: LockType.WRITE,
    spr.LOCK_TYPE_EXCL: LockType.EXCLUSIVE,
}
_LOCK_TYPES_PB = {v: k for k, v in _LOCK_TYPES.items()}
_RESOURCE_TYPES_PB = {
    ResourceType.FILE: spr.RESOURCE_TYPE_FILE,
    ResourceType.CONTAINER: spr.RESOURCE_TYPE_CONTAINER,
}
_CHECKSUM_TYPES_PB = {
    "sha1": spr.RESOURCE_CHECKSUM_TYPE_SHA1,
    "md5": spr.RESOURCE_CHECKSUM_TYPE_MD5,
    "adler32": spr.RESOURCE_CHECKSUM_TYPE_ADLER32,
}


# -- small types --------------------------------------------------------------------------------


def timestamp(seconds: float | None) -> types_pb.Timestamp | None:
    if seconds is None:
        return None
    frac, whole = math.modf(seconds)
    return types_pb.Timestamp(seconds=int(whole), nanos=int(frac * 1e9))


def _seconds(ts: types_pb.Timestamp, present: bool) -> float | None:
    if not present or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return ts.seconds + ts.nanos / 1e9


def opaque_get(opaque: types_pb.Opaque, key: str) -> str | None:
    """A plain-text value of a CS3 ``Opaque`` map (how clients pass ``Upload-Length`` and co.)."""
    entry = opaque.map.get(key) if opaque is not None else None
    if entry is None:
        return None
    try:
        return entry.value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"opaque {key!r} is not UTF-8 text") from None


def checksum_from_opaque(opaque: types_pb.Opaque) -> Checksum | None:
    """``Upload-Checksum: "<type> <hex>"`` (as Reva's ocdav puts it) as a :class:`Checksum`."""
    text = opaque_get(opaque, "Upload-Checksum")
    if not text:
        return None
    kind, _, value = text.strip().partition(" ")
    if not value:
        raise InvalidArgument("Upload-Checksum must be '<type> <hex>'")
    return Checksum(kind.lower(), value.strip().lower())


def user_id(username: str, idp: str) -> user_pb.UserId:
    return user_pb.UserId(idp=idp, opaque_id=username, type=user_pb.USER_TYPE_PRIMARY)


def user_to_pb(user: User, idp: str) -> user_pb.User:
    return user_pb.User(
        id=user_id(user.username, idp),
        username=user.username,
        mail=user.mail,
        display_name=user.display_name,
        groups=list(user.groups),
    )


# -- references ---------------------------------------------------------------------------------


def ref_from_pb(ref: spr.Reference) -> WireRef:
    if ref.HasField("resource_id") and (ref.resource_id.storage_id or ref.resource_id.opaque_id):
        rid = ref.resource_id
        if not rid.opaque_id:
            raise InvalidArgument("a resource id needs an opaque_id")
        if not rid.storage_id:
            raise InvalidArgument("a resource id needs a storage_id")
        if ref.path.startswith("/"):
            raise InvalidArgument("the path of an id reference must be relative ('.' or './x')")
        return WireRef(path=ref.path or ".", storage_id=rid.storage_id, opaque_id=rid.opaque_id)
    if not ref.path:
        raise InvalidArgument("a reference needs a path or a resource id")
    if not ref.path.startswith("/"):
        raise InvalidArgument(f"a path reference must be absolute: {ref.path!r}")
    return WireRef(path=ref.path)


def resource_id(storage_id: str, opaque_id: str) -> spr.ResourceId:
    return spr.ResourceId(storage_id=storage_id, opaque_id=opaque_id, space_id=storage_id)


def ref_to_pb(path: str) -> spr.Reference:
    return spr.Reference(path=path)


# -- resources ----------------------------------------------------------------------------------


def permissions_to_pb(permissions: frozenset[Permission] | None) -> spr.ResourcePermissions:
    flags = {p.value: True for p in permissions or ()}
    if flags.get("delete"):
        flags["delete_container"] = True
    if flags.get("move"):
        flags["move_container"] = True
    return spr.ResourcePermissions(**flags)


def permissions_from_pb(pb: spr.ResourcePermissions) -> frozenset[Permission]:
    return frozenset(p for p in Permission if getattr(pb, p.value, False))


def lock_to_pb(lock: Lock, idp: str) -> spr.Lock:
    pb = spr.Lock(
        lock_id=lock.lock_id, type=_LOCK_TYPES_PB[lock.type], app_name=lock.app_name or ""
    )
    if lock.user:
        pb.user.CopyFrom(user_id(lock.user, idp))
    if lock.expiration is not None:
        pb.expiration.CopyFrom(timestamp(lock.expiration))
    if lock.creation_time is not None:
        pb.creation_time.CopyFrom(timestamp(lock.creation_time))
    return pb


def lock_from_pb(pb: spr.Lock) -> Lock:
    if pb.type not in _LOCK_TYPES:
        raise InvalidArgument(f"invalid lock type {pb.type}")
    return Lock(
        lock_id=pb.lock_id,
        type=_LOCK_TYPES[pb.type],
        user=pb.user.opaque_id or None,
        app_name=pb.app_name or None,
        expiration=_seconds(pb.expiration, pb.HasField("expiration")),
        creation_time=_seconds(pb.creation_time, pb.HasField("creation_time")),
    )


def entry_to_pb(entry: Entry, idp: str, parent_id: str | None = None) -> spr.ResourceInfo:
    info = entry.info
    pb = spr.ResourceInfo(
        type=_RESOURCE_TYPES_PB[info.type],
        id=resource_id(entry.storage_id, info.id),
        etag=info.etag,
        mime_type=info.mime_type,
        mtime=timestamp(info.mtime),
        path=info.path,
        name=info.name,
        size=info.size,
        permission_set=permissions_to_pb(info.permissions),
    )
    parent = info.parent_id or parent_id
    if parent:
        pb.parent_id.CopyFrom(resource_id(entry.storage_id, parent))
    if info.checksum is not None:
        pb.checksum.CopyFrom(
            spr.ResourceChecksum(
                type=_CHECKSUM_TYPES_PB.get(
                    info.checksum.type.lower(), spr.RESOURCE_CHECKSUM_TYPE_UNSET
                ),
                sum=info.checksum.value,
            )
        )
    if info.owner:
        pb.owner.CopyFrom(user_id(info.owner, idp))
    if info.metadata:
        pb.arbitrary_metadata.metadata.update(dict(info.metadata))
    if info.lock is not None:
        pb.lock.CopyFrom(lock_to_pb(info.lock, idp))
    return pb


def file_version_to_pb(version: FileVersion) -> spr.FileVersion:
    return spr.FileVersion(
        key=version.key, size=version.size, mtime=int(version.mtime), etag=version.etag
    )


def recycle_item_to_pb(item: RecycleItem) -> spr.RecycleItem:
    return spr.RecycleItem(
        type=_RESOURCE_TYPES_PB[item.type],
        key=item.key,
        ref=ref_to_pb(item.path),
        size=item.size,
        deletion_time=timestamp(item.deletion_time),
    )


# -- grants -------------------------------------------------------------------------------------


def grantee_from_pb(pb: spr.Grantee) -> Grantee:
    if pb.type == spr.GRANTEE_TYPE_USER and pb.user_id.opaque_id:
        return Grantee(GranteeType.USER, pb.user_id.opaque_id, pb.user_id.idp)
    if pb.type == spr.GRANTEE_TYPE_GROUP and pb.group_id.opaque_id:
        return Grantee(GranteeType.GROUP, pb.group_id.opaque_id, pb.group_id.idp)
    raise InvalidArgument("a grantee needs a type (user or group) and an id")


def grantee_to_pb(grantee: Grantee) -> spr.Grantee:
    if grantee.type is GranteeType.USER:
        return spr.Grantee(
            type=spr.GRANTEE_TYPE_USER,
            user_id=user_pb.UserId(
                idp=grantee.idp, opaque_id=grantee.id, type=user_pb.USER_TYPE_PRIMARY
            ),
        )
    return spr.Grantee(
        type=spr.GRANTEE_TYPE_GROUP,
        group_id=group_pb.GroupId(idp=grantee.idp, opaque_id=grantee.id),
    )


def grant_from_pb(pb: spr.Grant) -> Grant:
    return Grant(
        grantee=grantee_from_pb(pb.grantee),
        permissions=permissions_from_pb(pb.permissions),
        creator=pb.creator.opaque_id or None,
        expiration=_seconds(pb.expiration, pb.HasField("expiration")),
    )


def grant_to_pb(grant: Grant, idp: str) -> spr.Grant:
    pb = spr.Grant(
        grantee=grantee_to_pb(grant.grantee), permissions=permissions_to_pb(grant.permissions)
    )
    if grant.creator:
        pb.creator.CopyFrom(user_id(grant.creator, idp))
    if grant.expiration is not None:
        pb.expiration.CopyFrom(timestamp(grant.expiration))
    return pb
