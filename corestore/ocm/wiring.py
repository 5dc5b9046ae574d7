"""Turning OCM on in a server: the site object and the ``/ocm`` mount of received shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corestore.errors import ConfigError
from corestore.mounts import Mount, MountTable
from corestore.ocm.mount import ReceivedSharesDriver
from corestore.ocm.site import OcmSite
from corestore.paths import join_path, split_path
from corestore.plugins import get_registry

if TYPE_CHECKING:
    from corestore.serverconfig import ServerConfig
    from corestore.state import ServerState

__all__ = ["MOUNT_ID", "enable_ocm"]

MOUNT_ID = "ocm"


def enable_ocm(state: ServerState, config: ServerConfig) -> MountTable:
    """Attach an :class:`OcmSite` to ``state`` and add the received-shares mount.

    Returns the new mount table (the server opens and closes it like the configured one).
    """
    # Received shares are read through the webdav driver: fail at startup, naming the package,
    # rather than on the first access to a share.
    get_registry().get("webdav")
    site = OcmSite(config.ocm, state, config.root)
    state.ocm = site
    path = join_path(split_path(config.ocm.mount_path))
    current = state.service.mounts
    if any(m.path == path or m.id == MOUNT_ID for m in current.mounts):
        raise ConfigError(
            f"ocm.mount_path {path} (or the storage id 'ocm') is already used by a mount"
        )
    table = MountTable(
        [*current.mounts, Mount(path=path, id=MOUNT_ID, driver=ReceivedSharesDriver(site))]
    )
    state.service.mounts = table
    return table
