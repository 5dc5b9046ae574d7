"""Where things live under ``root``, and the one safe way to reach a path in the user tree.

On-disk layout::

    root/
      files/                  the user tree, exactly as clients see it
      .corestore/             the driver's state, on the same filesystem as files/
        index.sqlite3         ids, etags, checksums, metadata, locks, grants (WAL mode)
        uploads/              temp files of writes in progress; a rename commits them
        versions/<id>/<key>   earlier contents of file <id>
        recycle/<key>         deleted files and folders

Keeping state *beside* the tree (not inside it) means no client path can name it. Keeping it on
the same filesystem means commits, deletes and restores are ``rename``\\s: atomic and O(1).

Containment: host paths are never built by joining strings. :meth:`Layout.parent_of` walks the
validated segments with ``openat(O_NOFOLLOW | O_DIRECTORY)`` from a descriptor of ``files/``,
and every operation then works relative to the parent folder's descriptor. A symbolic link
anywhere on the path is refused, whether it points in or out of the tree: following a link
would give one file two paths, hence two ids and etags that disagree, and a link planted
between a check and a use could not redirect a descriptor-relative operation anyway.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corestore.errors import MissingParent, NotAFolder, NotFound, PathEscape, translate_os_error
from corestore.paths import join_path

__all__ = ["Layout", "lstat_at", "refuse_symlink"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Layout:
    """The paths of one driver root and descriptor-relative access to its user tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.state = root / ".corestore"
        self.index = self.state / "index.sqlite3"
        self.uploads = self.state / "uploads"
        self.versions = self.state / "versions"
        self.recycle = self.state / "recycle"
        self._files_fd: int | None = None

    def create(self) -> None:
        """Create the layout (idempotent) and open the descriptor every walk starts from."""
        self.files.mkdir(parents=True, exist_ok=True)
        for folder in (self.state, self.uploads, self.versions, self.recycle):
            folder.mkdir(mode=0o700, exist_ok=True)
        if os.stat(self.files).st_dev != os.stat(self.state).st_dev:
            raise OSError(errno.EXDEV, "files/ and .corestore/ must be on one filesystem")
        self._files_fd = os.open(self.files, _DIR_FLAGS)

    def close(self) -> None:
        if self._files_fd is not None:
            os.close(self._files_fd)
            self._files_fd = None

    def clear_uploads(self) -> int:
        """Remove what a crash left in uploads/ (temp files, retired purges); return the count."""
        count = 0
        for entry in os.scandir(self.uploads):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            count += 1
        return count

    def open_folder(self, segments: tuple[str, ...]) -> int:
        """Open the folder at ``segments`` without following links; the caller closes the fd.

        :raises NotFound: a component does not exist.
        :raises NotAFolder: a component is a file.
        :raises PathEscape: a component is a symbolic link.
        """
        assert self._files_fd is not None, "layout not opened"
        fd = os.dup(self._files_fd)
        try:
            for depth, name in enumerate(segments):
                what = join_path(segments[: depth + 1])
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                        refuse_symlink(fd, name, what)
                        raise NotAFolder(f"not a folder: {what}") from exc
                    with translate_os_error(what):
                        raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextmanager
    def folder(self, segments: tuple[str, ...]) -> Iterator[int]:
        """:meth:`open_folder` as a context manager."""
        fd = self.open_folder(segments)
        try:
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def parent_of(self, segments: tuple[str, ...]) -> Iterator[int]:
        """A descriptor of the parent folder of ``segments``, for creating or replacing the last.

        :raises MissingParent: the parent folder does not exist, or is a file.
        :raises PathEscape: a component is a symbolic link.
        """
        try:
            fd = self.open_folder(segments[:-1])
        except (NotFound, NotAFolder) as exc:
            raise MissingParent(f"parent folder does not exist: {join_path(segments)}") from exc
        try:
            yield fd
        finally:
            os.close(fd)


def lstat_at(dir_fd: int, name: str, what: str) -> os.stat_result | None:
    """``lstat`` of ``name`` in a folder; ``None`` when it does not exist. Links are refused."""
    try:
        with translate_os_error(what):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except NotFound:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise PathEscape(f"symbolic links are not followed: {what}")
    return st


def refuse_symlink(dir_fd: int, name: str, what: str) -> None:
    """Raise :class:`PathEscape` if ``name`` in the folder is a symbolic link."""
    lstat_at(dir_fd, name, what)
