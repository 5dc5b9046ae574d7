"""Options of the owncloud driver (``driver = "owncloud"``).

They extend the webdav driver's options, whose HTTP, streaming and id settings apply unchanged;
``url`` names the server rather than a WebDAV collection, and the files URL is derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from corestore_webdav.options import WebdavOptions

from corestore.config import option
from corestore.errors import ConfigError

Flavor = Literal["auto", "owncloud", "nextcloud"]


@dataclass(frozen=True)
class OwncloudOptions(WebdavOptions):
    url: str = option(
        doc="base URL of the ownCloud or Nextcloud server (where status.php lives), "
        "e.g. https://cloud.example.org/ or https://example.org/owncloud/"
    )
    user: str = option(
        "",
        doc="the user id in DAV paths (remote.php/dav/files/<user>); empty: the username. "
        "Differs from the login name with LDAP/SSO logins or e-mail logins",
    )
    folder: str = option(
        "/", doc="folder of the user's files to mount, e.g. /Science (default: all of them)"
    )
    flavor: Flavor = option("auto", doc="server dialect; 'auto' reads productname from status.php")
    versions: bool = option(True, doc="offer file versions when the server's OCS says it has them")
    recycle: bool = option(True, doc="offer the trash bin when the server's OCS says it has one")
    atomic_put: bool = option(
        True,
        doc="write with one PUT: ownCloud and Nextcloud stage it in a .part file and keep the "
        "file id and a version. false: temporary upload + MOVE, like the webdav driver",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.user or self.username):
            raise ConfigError("owncloud: set username (or user, with bearer_token)")
        if not self.folder.startswith("/"):
            raise ConfigError(f"owncloud.folder: expected an absolute path, got {self.folder!r}")

    @property
    def server_url(self) -> str:
        return self.url.rstrip("/")

    @property
    def dav_user(self) -> str:
        return self.user or self.username

    def dav_url(self, *parts: str) -> str:
        """``<server>/remote.php/dav/<parts...>``, each part percent-encoded."""
        return "/".join([self.server_url, "remote.php/dav", *(quote(p, safe="") for p in parts)])

    def files_url(self) -> str:
        """The WebDAV collection the mount's root maps to."""
        folder = "/".join(quote(s, safe="") for s in self.folder.split("/") if s)
        return self.dav_url("files", self.dav_user) + (f"/{folder}" if folder else "")
