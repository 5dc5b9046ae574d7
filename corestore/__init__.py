"""corestore: a CS3 storage platform for federated research clouds, with pluggable drivers.

The public API for driver authors is re-exported here; everything else lives in submodules.
"""

from corestore.driver import (
    Capability,
    StorageDriver,
    SupportsGrants,
    SupportsLocks,
    SupportsMetadata,
    SupportsRecycle,
    SupportsVersions,
)
from corestore.hookspecs import hookimpl
from corestore.resources import (
    ByteRange,
    Checksum,
    FileVersion,
    Grant,
    Grantee,
    GranteeType,
    Lock,
    LockType,
    Permission,
    Quota,
    RecycleItem,
    Reference,
    ResourceInfo,
    ResourceType,
    WriteOptions,
)

__version__ = "0.1.0"

__all__ = [
    "ByteRange",
    "Capability",
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
    "StorageDriver",
    "SupportsGrants",
    "SupportsLocks",
    "SupportsMetadata",
    "SupportsRecycle",
    "SupportsVersions",
    "WriteOptions",
    "hookimpl",
]
