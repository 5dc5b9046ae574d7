"""The data model drivers speak: plain frozen dataclasses, never protobuf.

Drivers return these; ``corestore.grpc`` translates them to CS3 messages and ``corestore.http``
to headers and XML. Keeping protobuf out of drivers means a vendor can write and test a driver
without touching gRPC, and the CS3 wire format can move without touching any driver.

Times are POSIX timestamps in seconds (``float``); sizes are bytes; ids are opaque strings that a
driver mints and the storage registry later qualifies with the mount's storage id.
"""

from __future__ import annotations

import enum
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "ALL_PERMISSIONS",
    "EDITOR_PERMISSIONS",
    "VIEWER_PERMISSIONS",
    "ByteRange",
    "Checksum",
    "FileVersion",
    "Grant",
    "Grantee",
    "GranteeType",
    "Lock",
    "LockType",
    "Permission",
    "Quota",
    "RecycleItem",
    "Reference",
    "ResourceInfo",
    "ResourceType",
    "WriteOptions",
    "guess_mime_type",
]

FOLDER_MIME_TYPE = "httpd/unix-directory"
_EMPTY: Mapping[str, str] = MappingProxyType({})


class ResourceType(enum.StrEnum):
    """What a resource is. Symlinks and references are not part of the driver contract."""

    FILE = "file"
    CONTAINER = "container"


@dataclass(frozen=True, slots=True)
class Reference:
    """How a request names a resource, in the three CS3 shapes.

    * ``Reference(path="/a/b")``: an absolute path inside the driver's namespace;
    * ``Reference(resource_id="X")``: the resource with id X (``path`` is ``"."``);
    * ``Reference(resource_id="X", path="./c/d")``: a path relative to the resource with id X.

    Drivers never see mount prefixes or storage ids: the storage registry strips them.
    """

    path: str = "."
    resource_id: str | None = None

    def __post_init__(self) -> None:
        if self.resource_id is None and not self.path.startswith("/"):
            raise ValueError(f"a reference without resource id needs an absolute path: {self.path!r}")

    @classmethod
    def of(cls, path: str) -> Reference:
        """An absolute-path reference."""
        return cls(path=path)

    @classmethod
    def by_id(cls, resource_id: str, relative: str = ".") -> Reference:
        """An id reference, optionally with a path relative to that resource."""
        return cls(path=relative, resource_id=resource_id)

    @property
    def is_id_based(self) -> bool:
        return self.resource_id is not None

    def __str__(self) -> str:
        if self.resource_id is None:
            return self.path
        return f"id:{self.resource_id}" + ("" if self.path in ("", ".") else f"/{self.path[2:]}")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A byte range: ``start`` inclusive, ``length`` bytes or to the end when ``None``."""

    start: int = 0
    length: int | None = None

    def __post_init__(self) -> None:
        if self.start < 0 or (self.length is not None and self.length < 0):
            raise ValueError("byte range must not be negative")

    def clamp(self, size: int) -> tuple[int, int]:
        """Return ``(start, end_exclusive)`` within a file of ``size`` bytes."""
        end = size if self.length is None else min(size, self.start + self.length)
        return self.start, max(self.start, end)


@dataclass(frozen=True, slots=True)
class Checksum:
    """A content checksum; ``type`` is ``sha1``, ``md5``, ``adler32`` or ``sha256``, value in hex."""

    type: str
    value: str

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


class LockType(enum.StrEnum):
    """The CS3 lock types."""

    SHARED = "shared"
    WRITE = "write"
    EXCLUSIVE = "exclusive"


@dataclass(frozen=True, slots=True)
class Lock:
    """An application lock. ``expiration`` is an absolute timestamp; ``None`` never expires.

    ``user`` and ``app_name`` identify the holder: when set, refresh and unlock must present the
    same values (CS3 ``Lock`` contract), so a second app cannot steal a lock by knowing its id.
    """

    lock_id: str
    type: LockType = LockType.WRITE
    user: str | None = None
    app_name: str | None = None
    expiration: float | None = None
    creation_time: float | None = None

    def expired(self, now: float) -> bool:
        return self.expiration is not None and self.expiration <= now

    def same_holder(self, other: Lock) -> bool:
        """Whether ``other`` is presented by the holder of this lock (id, user and app agree)."""
        if self.lock_id != other.lock_id:
            return False
        if (self.user or other.user) and self.user != other.user:
            return False
        if (self.app_name or other.app_name) and self.app_name != other.app_name:
            return False
        return True


class Permission(enum.StrEnum):
    """The CS3 ``ResourcePermissions`` flags, by their proto field names."""

    ADD_GRANT = "add_grant"
    CREATE_CONTAINER = "create_container"
    DELETE = "delete"
    GET_PATH = "get_path"
    GET_QUOTA = "get_quota"
    INITIATE_FILE_DOWNLOAD = "initiate_file_download"
    INITIATE_FILE_UPLOAD = "initiate_file_upload"
    LIST_GRANTS = "list_grants"
    LIST_CONTAINER = "list_container"
    LIST_FILE_VERSIONS = "list_file_versions"
    LIST_RECYCLE = "list_recycle"
    MOVE = "move"
    REMOVE_GRANT = "remove_grant"
    PURGE_RECYCLE = "purge_recycle"
    RESTORE_FILE_VERSION = "restore_file_version"
    RESTORE_RECYCLE_ITEM = "restore_recycle_item"
    STAT = "stat"
    UPDATE_GRANT = "update_grant"
    DENY_GRANT = "deny_grant"


ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)
VIEWER_PERMISSIONS: frozenset[Permission] = frozenset(
    {
        Permission.GET_PATH,
        Permission.GET_QUOTA,
        Permission.INITIATE_FILE_DOWNLOAD,
        Permission.LIST_CONTAINER,
        Permission.LIST_FILE_VERSIONS,
        Permission.STAT,
    }
)
EDITOR_PERMISSIONS: frozenset[Permission] = VIEWER_PERMISSIONS | {
    Permission.CREATE_CONTAINER,
    Permission.DELETE,
    Permission.INITIATE_FILE_UPLOAD,
    Permission.MOVE,
    Permission.RESTORE_FILE_VERSION,
    Permission.LIST_RECYCLE,
    Permission.RESTORE_RECYCLE_ITEM,
}


class GranteeType(enum.StrEnum):
    USER = "user"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class Grantee:
    """Who a grant is for: a user or group id, with the identity provider for federated users."""

    type: GranteeType
    id: str
    idp: str = ""


@dataclass(frozen=True, slots=True)
class Grant:
    """Permissions given to a grantee on a resource (and, for folders, everything below it).

    A grant with an empty permission set is a *deny* grant.
    """

    grantee: Grantee
    permissions: frozenset[Permission]
    creator: str | None = None
    expiration: float | None = None


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """What ``stat`` and ``list_container`` return.

    ``etag`` changes whenever content changes, and a folder's etag changes whenever anything below
    it changes. ``checksum`` is the one computed while the content streamed in (``None`` when the
    driver could not know it without re-reading). ``permissions`` is ``None`` when the driver does
    not restrict access itself; the server then derives it from ownership and grants.
    """

    id: str
    path: str
    type: ResourceType
    size: int
    mtime: float
    etag: str
    parent_id: str | None = None
    checksum: Checksum | None = None
    mime_type: str = ""
    owner: str | None = None
    permissions: frozenset[Permission] | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    lock: Lock | None = None

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def is_container(self) -> bool:
        return self.type is ResourceType.CONTAINER


@dataclass(frozen=True, slots=True)
class Quota:
    """Quota for the space that holds a reference. ``total`` of 0 means unlimited."""

    total: int
    used: int

    @property
    def remaining(self) -> int | None:
        return None if self.total == 0 else max(0, self.total - self.used)


@dataclass(frozen=True, slots=True)
class FileVersion:
    """An earlier content of a file, kept when it was overwritten."""

    key: str
    size: int
    mtime: float
    etag: str


@dataclass(frozen=True, slots=True)
class RecycleItem:
    """A deleted resource in the recycle bin; ``path`` is where it lived."""

    key: str
    path: str
    type: ResourceType
    size: int
    deletion_time: float


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """The conditions and hints of a write, grouped so the contract can grow without breaking drivers.

    * ``expected_size``: the announced length. A stream that ends short or runs long is rejected
      and nothing is committed.
    * ``checksum``: the client's checksum, verified against what streamed in.
    * ``if_match`` / ``if_not_exist``: optimistic concurrency (CS3 ``InitiateFileUpload`` options).
    * ``lock_id``: the lock the caller holds, needed when the file is locked.
    * ``mtime``: the modification time to record (ownCloud ``X-OC-Mtime``).
    * ``keep_version``: whether the previous content becomes a version (drivers with versions).
    """

    expected_size: int | None = None
    checksum: Checksum | None = None
    if_match: str | None = None
    if_not_exist: bool = False
    lock_id: str | None = None
    mtime: float | None = None
    keep_version: bool = True


def guess_mime_type(name: str, is_container: bool) -> str:
    """The mime type CS3 clients expect: folders are ``httpd/unix-directory``."""
    if is_container:
        return FOLDER_MIME_TYPE
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
