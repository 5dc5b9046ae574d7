"""The driver contract: what a storage backend implements to be mounted by corestore.

A driver is a subclass of :class:`StorageDriver`. It must implement the *required core* (the
abstract methods below): enough for a CS3 client to browse, read and write. Everything else is an
*optional capability*, declared by also inheriting one of the capability classes:

================================  ===========================  ===============================
capability class                  :class:`Capability`          CS3 RPCs it enables
================================  ===========================  ===============================
:class:`SupportsMetadata`         ``metadata``                 Set/UnsetArbitraryMetadata
:class:`SupportsLocks`            ``locks``                    Set/Get/RefreshLock, Unlock
:class:`SupportsVersions`         ``versions``                 ListFileVersions, RestoreFileVersion
:class:`SupportsRecycle`          ``recycle``                  ListRecycle, RestoreRecycleItem, PurgeRecycle
:class:`SupportsGrants`           ``grants``                   Add/Update/Remove/Deny/ListGrants
================================  ===========================  ===============================

The server answers ``CODE_UNIMPLEMENTED`` for a capability a driver lacks, and the conformance kit
skips its tests (saying so). A driver whose support depends on the backend at run time (an S3
bucket without versioning) narrows :attr:`StorageDriver.capabilities` after :meth:`open`.

Rules every driver follows (the conformance kit checks them):

* paths go through :func:`corestore.paths.split_path` before touching the backend;
* resource ids are stable across renames and moves;
* etags change whenever content changes, and propagate to parent folders;
* ``write`` is atomic: readers see the old content or the new, never a mix, and a failed or cut
  stream leaves the old content in place. Its checksum is computed while streaming;
* errors are raised from :mod:`corestore.errors`, translated at the driver's boundary;
* nothing blocks the event loop: blocking I/O runs in threads.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar, Self

from corestore.config import NoOptions, parse_options
from corestore.resources import (
    ByteRange,
    FileVersion,
    Grant,
    Grantee,
    Lock,
    Quota,
    RecycleItem,
    Reference,
    ResourceInfo,
    WriteOptions,
)

__all__ = [
    "Capability",
    "StorageDriver",
    "SupportsGrants",
    "SupportsLocks",
    "SupportsMetadata",
    "SupportsRecycle",
    "SupportsVersions",
]


class Capability(enum.StrEnum):
    """Optional parts of the contract a driver may declare."""

    METADATA = "metadata"
    LOCKS = "locks"
    VERSIONS = "versions"
    RECYCLE = "recycle"
    GRANTS = "grants"


class StorageDriver(abc.ABC):
    """Base class of every driver. Subclasses set :attr:`name` and, if configurable, :attr:`Options`.

    A driver instance serves one mount. It is created with :meth:`from_config`, then :meth:`open`
    is awaited before the first call and :meth:`aclose` after the last (``async with`` does both).
    """

    #: The driver's name: the entry-point name, the registry key and the ``driver =`` config value.
    name: ClassVar[str]
    #: A frozen dataclass of the driver's options, parsed strictly by :meth:`from_config`.
    Options: ClassVar[type] = NoOptions
    #: One line shown by ``corestore drivers``.
    description: ClassVar[str] = ""

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()
        self._capabilities = self.declared_capabilities()

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None = None) -> Self:
        """Build a driver from its raw config table; unknown keys raise :class:`ConfigError`."""
        return cls(parse_options(cls.Options, raw, section=cls.name))

    @classmethod
    def declared_capabilities(cls) -> frozenset[Capability]:
        """The capabilities the class declares by inheriting the ``Supports*`` classes."""
        return frozenset(cap for cap, base in _CAPABILITY_CLASSES.items() if issubclass(cls, base))

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this instance supports; may be narrower than the class declares (see module doc)."""
        return self._capabilities

    def narrow_capabilities(self, missing: set[Capability]) -> None:
        """Drop capabilities the backend turned out not to offer; call from :meth:`open`."""
        self._capabilities = self._capabilities - missing

    def supports(self, capability: Capability) -> bool:
        return capability in self._capabilities

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect to the backend, create layout, check credentials. Called once, before use."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections and threads. Called once, after the last request."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- required core ------------------------------------------------------------------------

    @abc.abstractmethod
    async def stat(self, ref: Reference, *, metadata_keys: Sequence[str] = ()) -> ResourceInfo:
        """Describe a resource.

        :param metadata_keys: arbitrary-metadata keys to include (``"*"`` for all); drivers
            without :class:`SupportsMetadata` ignore them.
        :raises NotFound: the resource does not exist.
        """

    @abc.abstractmethod
    def list_container(
        self, ref: Reference, *, metadata_keys: Sequence[str] = ()
    ) -> AsyncIterator[ResourceInfo]:
        """Yield the children of a folder, in no particular order, without holding them all.

        :raises NotFound: the folder does not exist.
        :raises NotAFolder: the reference is a file.
        """

    @abc.abstractmethod
    async def create_container(self, ref: Reference) -> ResourceInfo:
        """Create one folder (not its parents).

        :raises AlreadyExists: something exists at that path.
        :raises MissingParent: the parent folder does not exist.
        """

    @abc.abstractmethod
    async def touch(self, ref: Reference, *, lock_id: str | None = None) -> ResourceInfo:
        """Create an empty file.

        :raises AlreadyExists: something exists at that path.
        :raises MissingParent: the parent folder does not exist.
        """

    @abc.abstractmethod
    async def delete(self, ref: Reference, *, lock_id: str | None = None) -> None:
        """Delete a file or a folder with everything below it (to the recycle bin, if supported).

        :raises NotFound: the resource does not exist.
        :raises Locked: the resource is locked and ``lock_id`` is not the lock's id.
        :raises PermissionDenied: the reference is the driver's root.
        """

    @abc.abstractmethod
    async def move(
        self, source: Reference, destination: Reference, *, lock_id: str | None = None
    ) -> ResourceInfo:
        """Move or rename a resource, keeping its id. The destination must not exist.

        :raises NotFound: the source does not exist.
        :raises AlreadyExists: the destination exists.
        :raises MissingParent: the destination's parent does not exist.
        :raises MoveIntoItself: the destination is below the source.
        """

    @abc.abstractmethod
    def open_read(
        self, ref: Reference, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        """Yield the file's bytes (or a range of them) in chunks, never the whole file at once.

        Usually an ``async def`` generator. A range starting at or past the end yields nothing;
        the HTTP layer decides about 416 from ``stat`` before reading.

        :raises NotFound: the file does not exist.
        :raises IsAFolder: the reference is a folder.
        """

    @abc.abstractmethod
    async def write(
        self,
        ref: Reference,
        chunks: AsyncIterable[bytes],
        options: WriteOptions = WriteOptions(),  # noqa: B008 - frozen, shared safely
    ) -> ResourceInfo:
        """Store a file's new content from a stream of chunks, atomically.

        The previous content stays readable until the stream has ended and been verified; then
        the new content replaces it in one step. If the stream fails, is shorter or longer than
        ``options.expected_size``, or its checksum does not match, nothing changes.

        ``chunks`` may also be a :class:`corestore.streams.Pumpable` (large HTTP uploads are):
        a driver whose writes block can then run the whole transfer in one thread with
        ``await chunks.pump(sink)`` instead of iterating.

        :raises IsAFolder: the path is a folder.
        :raises MissingParent: the parent folder does not exist.
        :raises ChecksumMismatch: ``options.checksum`` does not match the bytes received.
        :raises ETagMismatch: ``options.if_match`` does not match the current etag.
        :raises AlreadyExists: ``options.if_not_exist`` and the file exists.
        :raises Locked: the file is locked and ``options.lock_id`` is not the lock's id.
        """

    @abc.abstractmethod
    async def get_quota(self, ref: Reference) -> Quota:
        """Total and used bytes of the space holding ``ref``."""


class SupportsMetadata(abc.ABC):
    """Arbitrary key/value metadata on resources, returned by ``stat`` when asked for."""

    @abc.abstractmethod
    async def set_metadata(
        self, ref: Reference, metadata: Mapping[str, str], *, lock_id: str | None = None
    ) -> None:
        """Set (add or replace) keys. Other keys stay as they are."""

    @abc.abstractmethod
    async def unset_metadata(
        self, ref: Reference, keys: Sequence[str], *, lock_id: str | None = None
    ) -> None:
        """Remove keys; keys that are not set are ignored."""


class SupportsLocks(abc.ABC):
    """Application locks with ids and expiry (CS3 ``SetLock`` and friends, WebDAV LOCK)."""

    @abc.abstractmethod
    async def set_lock(self, ref: Reference, lock: Lock) -> None:
        """Lock a resource, atomically.

        :raises NotFound: the resource does not exist.
        :raises LockConflict: it holds an unexpired lock.
        """

    @abc.abstractmethod
    async def get_lock(self, ref: Reference) -> Lock:
        """The current lock.

        :raises NotFound: the resource does not exist or is not locked (expired locks count as none).
        """

    @abc.abstractmethod
    async def refresh_lock(
        self, ref: Reference, lock: Lock, *, existing_lock_id: str | None = None
    ) -> None:
        """Replace the lock's expiry (and, with ``existing_lock_id``, its id).

        :raises LockConflict: not locked, or locked by another holder.
        """

    @abc.abstractmethod
    async def unlock(self, ref: Reference, lock: Lock) -> None:
        """Release a lock.

        :raises LockConflict: not locked, or locked by another holder.
        """


class SupportsVersions(abc.ABC):
    """Earlier contents of a file, kept on overwrite."""

    @abc.abstractmethod
    def list_versions(self, ref: Reference) -> AsyncIterator[FileVersion]:
        """Yield the file's versions, newest first."""

    @abc.abstractmethod
    def open_version(
        self, ref: Reference, key: str, byte_range: ByteRange | None = None
    ) -> AsyncIterator[bytes]:
        """Yield a version's bytes. :raises NotFound: no such version."""

    @abc.abstractmethod
    async def restore_version(self, ref: Reference, key: str, *, lock_id: str | None = None) -> None:
        """Make a version the current content; the current content becomes a version."""


class SupportsRecycle(abc.ABC):
    """A recycle bin: delete keeps items until they are restored or purged."""

    @abc.abstractmethod
    def list_recycle(self, ref: Reference) -> AsyncIterator[RecycleItem]:
        """Yield the items deleted from the space that holds ``ref``."""

    @abc.abstractmethod
    async def restore_recycle_item(
        self, ref: Reference, key: str, *, restore_to: Reference | None = None
    ) -> ResourceInfo:
        """Restore an item to where it was, or to ``restore_to``.

        :raises NotFound: no such item.
        :raises AlreadyExists: the target path is taken.
        """

    @abc.abstractmethod
    async def purge_recycle(self, ref: Reference, key: str | None = None) -> None:
        """Delete one item for good, or every item when ``key`` is ``None``."""


class SupportsGrants(abc.ABC):
    """Per-resource grants, inherited by everything below a folder."""

    @abc.abstractmethod
    async def add_grant(self, ref: Reference, grant: Grant) -> None:
        """:raises AlreadyExists: the grantee already has a grant here."""

    @abc.abstractmethod
    async def update_grant(self, ref: Reference, grant: Grant) -> None:
        """:raises NotFound: the grantee has no grant here."""

    @abc.abstractmethod
    async def remove_grant(self, ref: Reference, grantee: Grantee) -> None:
        """:raises NotFound: the grantee has no grant here."""

    @abc.abstractmethod
    def list_grants(self, ref: Reference) -> AsyncIterator[Grant]:
        """Yield the grants set directly on this resource."""


_CAPABILITY_CLASSES: dict[Capability, type] = {
    Capability.METADATA: SupportsMetadata,
    Capability.LOCKS: SupportsLocks,
    Capability.VERSIONS: SupportsVersions,
    Capability.RECYCLE: SupportsRecycle,
    Capability.GRANTS: SupportsGrants,
}
