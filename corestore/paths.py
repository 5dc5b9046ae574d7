"""Validation of driver-relative paths: the one gate every path passes before touching storage.

A path that reaches a driver is absolute within the driver's namespace (``/a/b``) or relative to a
resource id (``./a/b``). :func:`split_path` turns either form into validated segments and rejects
what could leave the namespace or confuse a backend: ``..`` segments, NUL bytes, overlong names.
Drivers build backend locations only from these segments, so an escape cannot be spelled.
"""

from __future__ import annotations

from corestore.errors import InvalidPath, PathEscape

__all__ = ["MAX_NAME_BYTES", "MAX_PATH_BYTES", "join_path", "parent_path", "split_path"]

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


def split_path(path: str) -> tuple[str, ...]:
    """Split a driver path into safe segments; ``"/"`` and ``"."`` give ``()``.

    Empty and ``.`` segments collapse. A ``..`` segment is refused outright rather than resolved:
    resolving it lexically is where escapes hide, and no CS3 or WebDAV client needs it.
    """
    if "\x00" in path:
        raise InvalidPath("path contains a NUL byte")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise InvalidPath(f"path is longer than {MAX_PATH_BYTES} bytes")
    segments = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            raise PathEscape(f"path escapes its root: {path}")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise InvalidPath(f"name is longer than {MAX_NAME_BYTES} bytes")
        segments.append(segment)
    return tuple(segments)


def join_path(segments: tuple[str, ...] | list[str]) -> str:
    """The absolute driver path of validated segments."""
    return "/" + "/".join(segments)


def parent_path(path: str) -> str:
    """The absolute parent path of a driver path (``/`` is its own parent)."""
    return join_path(split_path(path)[:-1])
