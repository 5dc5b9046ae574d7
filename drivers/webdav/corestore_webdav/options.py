"""Options of the webdav driver (the ``[mounts.<name>]`` table with ``driver = "webdav"``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from corestore.config import ByteSize, option
from corestore.errors import ConfigError

IdScheme = Literal["auto", "fileid", "property", "path"]
ChecksumKind = Literal["sha1", "md5", "adler32", "sha256", "none"]


@dataclass(frozen=True)
class WebdavOptions:
    url: str = option(doc="base URL of the WebDAV collection to mount, e.g. https://host/dav/")
    username: str = option("", doc="user for HTTP basic auth (empty: no basic auth)")
    password: str = option("", doc="password for HTTP basic auth", secret=True)
    bearer_token: str = option(
        "", doc="token sent as 'Authorization: Bearer'; excludes basic auth", secret=True
    )
    id_scheme: IdScheme = option(
        "auto",
        doc="resource ids: 'fileid' (server's oc:fileid), 'property' (a uuid kept in a dead "
        "property, needs PROPPATCH), 'path' (derived from the path, changes on move), or "
        "'auto' (the first of these the server supports)",
    )
    propagate_etags: bool = option(
        True,
        doc="renew a dead-property etag on every folder above a change (needs PROPPATCH); "
        "without it folder etags follow the server, which rarely propagates them",
    )
    checksum: ChecksumKind = option(
        "sha1", doc="checksum computed while uploading and returned by write ('none' to skip)"
    )
    chunk_size: ByteSize = option(ByteSize(1 << 20), doc="bytes per streamed chunk")
    queue_depth: int = option(
        4, doc="chunks buffered between the event loop and the HTTP thread, per stream"
    )
    max_connections: int = option(16, doc="HTTP connections kept to the server")
    timeout: float = option(60.0, doc="seconds to wait for the server on connect and each read")
    verify_tls: bool = option(True, doc="verify the server's TLS certificate")

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"webdav.url: expected an http(s) URL, got {self.url!r}")
        if self.bearer_token and (self.username or self.password):
            raise ConfigError("webdav: set either username/password or bearer_token, not both")
        if self.password and not self.username:
            raise ConfigError("webdav: password given without username")
        if self.chunk_size <= 0 or self.queue_depth <= 0 or self.max_connections <= 0:
            raise ConfigError(
                "webdav: chunk_size, queue_depth and max_connections must be positive"
            )
