"""corestore driver for a local POSIX file tree, with every optional capability.

Registered through the ``corestore`` entry point (``posix = "corestore_posix"``)::

    [[mounts]]
    driver = "posix"
    [mounts.options]
    root = "/srv/corestore"
"""

from __future__ import annotations

from corestore import hookimpl
from corestore.plugins import DriverRegistry
from corestore_posix.driver import PosixDriver
from corestore_posix.options import PosixOptions

__all__ = ["PosixDriver", "PosixOptions", "corestore_register_drivers"]


@hookimpl
def corestore_register_drivers(registry: DriverRegistry) -> None:
    registry.add(PosixDriver)
