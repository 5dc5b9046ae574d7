"""corestore driver that attaches an existing ownCloud or Nextcloud server through its public APIs.

Registered through the ``corestore`` entry point::

    [project.entry-points.corestore]
    owncloud = "corestore_owncloud"
"""

from __future__ import annotations

from corestore import hookimpl
from corestore_owncloud.driver import OwncloudDriver
from corestore_owncloud.options import OwncloudOptions

__all__ = ["OwncloudDriver", "OwncloudOptions"]


@hookimpl
def corestore_register_drivers(registry) -> None:  # noqa: ANN001 - pluggy passes the registry
    registry.add(OwncloudDriver)
