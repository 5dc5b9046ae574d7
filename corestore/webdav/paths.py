"""Where a WebDAV URL points: the user whose files it names and the global path inside their home.

Three URL forms name the same files (the second and third are what ownCloud and Nextcloud clients
know)::

    /dav/files/<user>/<path>
    /remote.php/dav/files/<user>/<path>
    /remote.php/webdav/<path>            (the authenticated user's own files)

``<path>`` maps to ``<home mount>/<user>/<path>``. The URL never decides access: the storage
service does, exactly as for gRPC, so ``/dav/files/marie/`` asked for by einstein is answered by
marie's grants.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from corestore.errors import NotFound, PermissionDenied
from corestore.paths import join_path, split_path
from corestore.service import WireRef
from corestore.state import ServerState
from corestore.users import User

__all__ = ["DAV_PREFIXES", "DavLocation", "locate", "locate_url"]

#: The URL prefixes followed by ``<user>/``; ``/remote.php/webdav`` is handled on its own.
DAV_PREFIXES = ("/remote.php/dav/files/", "/dav/files/")
LEGACY_PREFIX = "/remote.php/webdav"


@dataclass(frozen=True)
class DavLocation:
    """A WebDAV URL resolved: its base (URL prefix of the home), the home, and the path below it."""

    base: str  # e.g. "/remote.php/dav/files/einstein", URL-encoded, no trailing slash
    home: str  # global path of the home, e.g. "/home/einstein"
    segments: tuple[str, ...]  # validated path below the home

    @property
    def path(self) -> str:
        return join_path(split_path(self.home) + self.segments)

    @property
    def ref(self) -> WireRef:
        return WireRef(path=self.path)

    def child(self, name: str) -> DavLocation:
        return DavLocation(self.base, self.home, self.segments + (name,))

    @property
    def parent(self) -> DavLocation:
        return DavLocation(self.base, self.home, self.segments[:-1])

    def href(self, global_path: str | None = None, container: bool = False) -> str:
        """The URL of this location, or of ``global_path`` inside the same home."""
        if global_path is None:
            segments = self.segments
        else:
            segments = split_path(global_path)[len(split_path(self.home)) :]
        tail = "/".join(quote(s, safe="") for s in segments)
        href = f"{self.base}/{tail}" if tail else f"{self.base}/"
        return href + "/" if container and not href.endswith("/") else href


def _home_of(state: ServerState, username: str) -> str:
    owner = state.users.get(username)
    if owner is None:
        raise NotFound(f"no user {username}")
    return state.service.home_path(owner)


def locate(state: ServerState, user: User, path: str) -> DavLocation:
    """Resolve a decoded URL path (``request.path``) to a location.

    :raises NotFound: not a WebDAV URL, or an unknown user.
    :raises InvalidPath: an invalid or overlong path.
    """
    if path == LEGACY_PREFIX or path.startswith(LEGACY_PREFIX + "/"):
        tail = path[len(LEGACY_PREFIX) :]
        return DavLocation(LEGACY_PREFIX, _home_of(state, user.username), split_path(tail or "/"))
    for prefix in DAV_PREFIXES:
        if path.startswith(prefix):
            username, _, tail = path[len(prefix) :].partition("/")
            if not username:
                break
            base = prefix + quote(username, safe="")
            return DavLocation(base, _home_of(state, username), split_path("/" + tail))
    raise NotFound(f"not a WebDAV path: {path}")


def locate_url(state: ServerState, user: User, url: str, host: str) -> DavLocation:
    """Resolve a ``Destination`` header (absolute URL or absolute path) to a location.

    :raises PermissionDenied: it points to another server, or outside the WebDAV file tree.
    """
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != host:
        raise PermissionDenied("the destination is on another server")
    try:
        return locate(state, user, unquote(parts.path))
    except NotFound:
        raise PermissionDenied("the destination is outside the WebDAV file tree") from None
